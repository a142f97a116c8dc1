package handlers

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/astrobot-dev/astrobot"
	"github.com/slack-go/slack"
)

// md is mrkdwn ready for Slack: every <, > and & in it is escaped, except in
// the links, mentions and dates made by the functions of this file. Every
// piece of mrkdwn the handlers send is an md, so nothing reaches Slack
// unescaped: text becomes md through esc or mdf only.
type md string

// esc escapes text for mrkdwn: &, < and > become &amp;, &lt; and &gt;, which
// Slack shows as the characters themselves, in code blocks too. It is the one
// escaping function of astrobot.
func esc(s string) md {
	if !strings.ContainsAny(s, "&<>") {
		return md(s)
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := range len(s) {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		default:
			b.WriteByte(c)
		}
	}
	return md(b.String())
}

// mdf formats mrkdwn: the format and every argument are escaped, except
// arguments that are md already. It knows the verbs %s and %d (and %%): any
// other verb is a bug of the caller and is written as it is.
func mdf(format string, args ...any) md {
	var b strings.Builder
	b.Grow(len(format) + 16*len(args))
	next := 0
	for {
		i := strings.IndexByte(format, '%')
		if i < 0 || i == len(format)-1 {
			b.WriteString(string(esc(format)))
			return md(b.String())
		}
		b.WriteString(string(esc(format[:i])))
		verb := format[i+1]
		format = format[i+2:]
		if verb == '%' {
			b.WriteByte('%')
			continue
		}
		if next >= len(args) || (verb != 's' && verb != 'd') {
			b.WriteString("%!" + string(verb) + "(BAD)")
			continue
		}
		a := args[next]
		next++
		switch v := a.(type) {
		case md:
			b.WriteString(string(v))
		case string:
			b.WriteString(string(esc(v)))
		case int:
			b.WriteString(strconv.Itoa(v))
		case fmt.Stringer:
			b.WriteString(string(esc(v.String())))
		case error:
			b.WriteString(string(esc(v.Error())))
		default:
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.String {
				b.WriteString(string(esc(rv.String()))) // named string types such as Status
			} else {
				b.WriteString(string(esc(fmt.Sprint(a))))
			}
		}
	}
}

// escMessage escapes a message of the domain (an error, a next-step
// sentence), in which users are named as <@U…>: those stay mentions.
func escMessage(s string) md {
	var b strings.Builder
	for {
		i := strings.Index(s, "<@")
		if i < 0 {
			b.WriteString(string(esc(s)))
			return md(b.String())
		}
		if j := strings.IndexByte(s[i:], '>'); j > 0 && isUserID(s[i+2:i+j]) {
			b.WriteString(string(esc(s[:i])) + string(mention(s[i+2:i+j])))
			s = s[i+j+1:]
			continue
		}
		b.WriteString(string(esc(s[:i+2])))
		s = s[i+2:]
	}
}

// isUserID reports whether s looks like a Slack user ID: U or W, then upper
// case letters and digits.
func isUserID(s string) bool {
	return len(s) >= 3 && (s[0] == 'U' || s[0] == 'W') && strings.Trim(s[1:], "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}

// mention is a Slack mention of a user.
func mention(userID string) md { return md("<@" + userID + ">") }

// actor names who did something: a mention, or AWS or astrobot.
func actor(id string) md {
	switch id {
	case astrobot.ActorAWS, astrobot.ActorBot:
		return esc(astrobot.ActorName(id))
	}
	return mention(id)
}

// slackDate shows t in each reader's own time zone.
func slackDate(t time.Time) md {
	return md(fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", t.Unix(), t.UTC().Format("2006-01-02 15:04 UTC")))
}

// code is inline code.
func code(s string) md { return "`" + esc(s) + "`" }

// codeList is values as inline code, separated by commas.
func codeList(values []string) md { return esc(astrobot.CodeList(values)) }

// codeBlock is lines as a code block.
func codeBlock(lines ...string) md {
	return "```\n" + esc(strings.Join(lines, "\n")) + "\n```"
}

// Slack's limits on text (Block Kit reference).
const (
	maxSection      = 3000  // characters of a section's text
	maxSectionField = 2000  // characters of a section field
	maxMessageText  = 40000 // characters of a message's text
	maxHeader       = 150   // characters of a header
	maxPlainLabel   = 75    // characters of a button or option text
	maxModalTitle   = 24    // characters of a modal's title, submit and close
	maxMessageBlock = 50    // blocks of a message
)

// sectionRoom is what astrobot puts in one section: under Slack's limit,
// with room for a closing fence.
const sectionRoom = maxSection - 100

// section is a section block of mrkdwn text, which must fit in one
// (use sections for text that grows with data).
func section(text md) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, string(clip(text, sectionRoom)), false, false), nil, nil)
}

func plain(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, truncate(s, 2000), false, false)
}

// truncate cuts s to at most n characters, ending it with … when cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// clip cuts mrkdwn to at most n characters without splitting an escape
// (&amp;) or a link, mention or date (<…>), closing a code block it leaves
// open.
func clip(text md, n int) md {
	s := string(text)
	if utf8.RuneCountInString(s) <= n {
		return text
	}
	r := []rune(s)
	cut := n - 5 // room for "…" and a closing fence
	for i := cut - 1; i >= 0 && i >= cut-300; i-- {
		if r[i] == '>' || r[i] == ';' {
			break
		}
		if r[i] == '<' || r[i] == '&' {
			cut = i
			break
		}
	}
	out := string(r[:cut]) + "…"
	if strings.Count(out, "```")%2 == 1 {
		out += "\n```"
	}
	return md(out)
}

// sections splits text into section blocks that each fit Slack's limit, at
// line breaks. A code block split across sections is closed at the end of
// one and opened again in the next. At most max blocks are made; what does
// not fit is cut, with a line saying how many lines were left out.
func sections(text md, max int) []slack.Block {
	var (
		blocks  []slack.Block
		cur     strings.Builder
		inFence bool
	)
	lines := strings.SplitAfter(string(text), "\n")
	flush := func() {
		s := cur.String()
		if inFence {
			s += "\n```"
		}
		blocks = append(blocks, section(md(s)))
		cur.Reset()
		if inFence {
			cur.WriteString("```\n")
		}
	}
	for i, line := range lines {
		line = string(clip(md(line), sectionRoom-10))
		if cur.Len()+len(line) > sectionRoom && cur.Len() > 0 {
			if len(blocks) == max-1 {
				left := len(lines) - i
				cur.WriteString(string(mdf("\n… and %d more lines.", left)))
				break
			}
			flush()
		}
		cur.WriteString(line)
		if strings.Count(line, "```")%2 == 1 {
			inFence = !inFence
		}
	}
	if cur.Len() > 0 {
		blocks = append(blocks, section(md(strings.TrimSuffix(cur.String(), "\n"))))
	}
	return blocks
}

// instructionsText renders what the customer does: the title, then each
// step with its console path, AWS CLI commands and Terraform.
func instructionsText(in *astrobot.Instructions) md {
	if in == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(string(mdf("*%s*:\n", in.Title)))
	one := len(in.Steps) == 1
	for i, s := range in.Steps {
		if !one || s.Title != "" {
			if one {
				b.WriteString(string(mdf("%s:\n", s.Title)))
			} else {
				b.WriteString(string(mdf("%d. %s:\n", i+1, s.Title)))
			}
		}
		if s.Console != "" {
			b.WriteString(string(mdf("• Console: %s\n", s.Console)))
		}
		if len(s.CLI) > 0 {
			b.WriteString("• AWS CLI:\n" + string(codeBlock(s.CLI...)) + "\n")
		}
		if s.Terraform != "" {
			b.WriteString("• Terraform:\n" + string(codeBlock(s.Terraform)) + "\n")
		}
		if s.Note != "" {
			b.WriteString(string(mdf("%s\n", s.Note)))
		}
	}
	return md(strings.TrimSuffix(b.String(), "\n"))
}
