package fakeslack_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/astrobot-dev/astrobot/internal/fakeslack"
)

func plain(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, text, false, false)
}

func mrkdwn(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

// sections returns n sections.
func sections(n int) []slack.Block {
	blocks := make([]slack.Block, n)
	for i := range blocks {
		blocks[i] = section(fmt.Sprintf("Request %d", i+1))
	}
	return blocks
}

// withID returns a section with the block_id id.
func withID(id string) slack.Block {
	return slack.NewSectionBlock(mrkdwn("text"), nil, nil, slack.SectionBlockOptionBlockID(id))
}

func button(actionID, text string) *slack.ButtonBlockElement {
	return slack.NewButtonBlockElement(actionID, "v", plain(text))
}

func actions(elements ...slack.BlockElement) slack.Block {
	return slack.NewActionBlock("", elements...)
}

// options returns n options of a static select.
func options(n int) []*slack.OptionBlockObject {
	opts := make([]*slack.OptionBlockObject, n)
	for i := range opts {
		opts[i] = slack.NewOptionBlockObject(fmt.Sprintf("c%d", i), plain(fmt.Sprintf("cluster %d", i)), nil)
	}
	return opts
}

func staticSelect(opts ...*slack.OptionBlockObject) slack.Block {
	return actions(slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Cluster"), "cluster", opts...))
}

// problems formats violations one a line, as "method: path: problem".
func problems(vs []fakeslack.Violation) string {
	lines := make([]string, len(vs))
	for i, v := range vs {
		lines[i] = v.String()
	}
	return strings.Join(lines, "\n")
}

// slackError returns the Slack error code of err, or "" when err is not a
// Slack error response.
func slackError(err error) string {
	if e, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return e.Err
	}
	return ""
}

func TestMessageLimits(t *testing.T) {
	text := slack.MsgOptionText("fallback", false)
	blocks := slack.MsgOptionBlocks
	long := strings.Repeat
	tests := []struct {
		name        string
		opts        []slack.MsgOption
		wantErr     string // "" when the message is valid
		wantProblem string // part of one violation, as "path: problem"
	}{
		// Refused.
		{"section of 3001 characters", []slack.MsgOption{text, blocks(section(long("a", 3001)))},
			"invalid_blocks", "blocks[0].text: 3001 characters, the limit is 3000"},
		{"empty section", []slack.MsgOption{text, blocks(section(""))},
			"invalid_blocks", "blocks[0].text: empty"},
		{"section without text or fields", []slack.MsgOption{text, blocks(&slack.SectionBlock{Type: slack.MBTSection})},
			"invalid_blocks", "blocks[0]: a section needs text or fields"},
		{"11 fields", []slack.MsgOption{text, blocks(slack.NewSectionBlock(nil, []*slack.TextBlockObject{
			mrkdwn("1"), mrkdwn("2"), mrkdwn("3"), mrkdwn("4"), mrkdwn("5"), mrkdwn("6"),
			mrkdwn("7"), mrkdwn("8"), mrkdwn("9"), mrkdwn("10"), mrkdwn("11")}, nil))},
			"invalid_blocks", "blocks[0].fields: 11 fields, the limit is 10"},
		{"field of 2001 characters", []slack.MsgOption{text, blocks(slack.NewSectionBlock(nil, []*slack.TextBlockObject{mrkdwn(long("a", 2001))}, nil))},
			"invalid_blocks", "blocks[0].fields[0]: 2001 characters, the limit is 2000"},
		{"51 blocks", []slack.MsgOption{text, blocks(sections(51)...)},
			"invalid_blocks", "blocks: 51 blocks, the limit is 50"},
		{"duplicate block_id", []slack.MsgOption{text, blocks(withID("req"), withID("req"))},
			"invalid_blocks", `blocks[1].block_id: "req" is also the block_id of blocks[0]`},
		{"block_id of 256 characters", []slack.MsgOption{text, blocks(withID(long("b", 256)))},
			"invalid_blocks", "blocks[0].block_id: 256 characters, the limit is 255"},
		{"header over 150", []slack.MsgOption{text, blocks(slack.NewHeaderBlock(plain(long("h", 151))))},
			"invalid_blocks", "blocks[0].text: 151 characters, the limit is 150"},
		{"mrkdwn header", []slack.MsgOption{text, blocks(slack.NewHeaderBlock(mrkdwn("*Request*")))},
			"invalid_blocks", "blocks[0].text.type: mrkdwn, must be plain_text"},
		{"11 context elements", []slack.MsgOption{text, blocks(slack.NewContextBlock("",
			mrkdwn("1"), mrkdwn("2"), mrkdwn("3"), mrkdwn("4"), mrkdwn("5"), mrkdwn("6"),
			mrkdwn("7"), mrkdwn("8"), mrkdwn("9"), mrkdwn("10"), mrkdwn("11")))},
			"invalid_blocks", "blocks[0].elements: 11 elements, the limit is 10"},
		{"26 actions", []slack.MsgOption{text, blocks(actions(func() []slack.BlockElement {
			var els []slack.BlockElement
			for i := range 26 {
				els = append(els, button(fmt.Sprintf("b%d", i), "Go"))
			}
			return els
		}()...))},
			"invalid_blocks", "blocks[0].elements: 26 elements, the limit is 25"},
		{"button text over 75", []slack.MsgOption{text, blocks(actions(button("approve", long("x", 76))))},
			"invalid_blocks", "blocks[0].elements[0].text: 76 characters, the limit is 75"},
		{"button value over 2000", []slack.MsgOption{text, blocks(actions(slack.NewButtonBlockElement("approve", long("v", 2001), plain("Approve"))))},
			"invalid_blocks", "blocks[0].elements[0].value: 2001 characters, the limit is 2000"},
		{"button url over 3000", []slack.MsgOption{text, blocks(actions(button("open", "Open").WithURL("https://x/" + long("p", 2991))))},
			"invalid_blocks", "blocks[0].elements[0].url: 3001 characters, the limit is 3000"},
		{"button style", []slack.MsgOption{text, blocks(actions(button("approve", "Approve").WithStyle("warning")))},
			"invalid_blocks", `blocks[0].elements[0].style: "warning", must be primary or danger`},
		{"duplicate action_id", []slack.MsgOption{text, blocks(actions(button("go", "Approve"), button("go", "Deny")))},
			"invalid_blocks", `blocks[0].elements[1].action_id: "go" is also the action_id of blocks[0].elements[0]`},
		{"confirm title over 100", []slack.MsgOption{text, blocks(actions(button("deny", "Deny").WithConfirm(
			slack.NewConfirmationBlockObject(plain(long("t", 101)), plain("Sure?"), plain("Deny"), plain("Back")))))},
			"invalid_blocks", "blocks[0].elements[0].confirm.title: 101 characters, the limit is 100"},
		{"confirm text over 300", []slack.MsgOption{text, blocks(actions(button("deny", "Deny").WithConfirm(
			slack.NewConfirmationBlockObject(plain("Deny?"), plain(long("t", 301)), plain("Deny"), plain("Back")))))},
			"invalid_blocks", "blocks[0].elements[0].confirm.text: 301 characters, the limit is 300"},
		{"confirm button over 30", []slack.MsgOption{text, blocks(actions(button("deny", "Deny").WithConfirm(
			slack.NewConfirmationBlockObject(plain("Deny?"), plain("Sure?"), plain(long("c", 31)), plain("Back")))))},
			"invalid_blocks", "blocks[0].elements[0].confirm.confirm: 31 characters, the limit is 30"},
		{"101 options", []slack.MsgOption{text, blocks(staticSelect(options(101)...))},
			"invalid_blocks", "blocks[0].elements[0].options: 101 options, the limit is 100"},
		{"option text over 75", []slack.MsgOption{text, blocks(staticSelect(slack.NewOptionBlockObject("c1", plain(long("o", 76)), nil)))},
			"invalid_blocks", "blocks[0].elements[0].options[0].text: 76 characters, the limit is 75"},
		{"option value over 150", []slack.MsgOption{text, blocks(staticSelect(slack.NewOptionBlockObject(long("v", 151), plain("c1"), nil)))},
			"invalid_blocks", "blocks[0].elements[0].options[0].value: 151 characters, the limit is 150"},
		{"raw placeholder in mrkdwn", []slack.MsgOption{text, blocks(section("Run `/astro-peer <your-sg-id>`"))},
			"invalid_blocks", `blocks[0].text.text: "<your-sg-id>" at character 18 is not a link, mention or date`},
		{"bare ampersand", []slack.MsgOption{text, blocks(section("Q&A"))},
			"invalid_blocks", `blocks[0].text.text: unescaped & at character 2 ("Q&A"): write &amp;`},
		{"bare greater-than", []slack.MsgOption{text, blocks(section("pending -> approved"))},
			"invalid_blocks", "blocks[0].text.text: unescaped > at character 10"},
		{"bare less-than", []slack.MsgOption{text, blocks(section("a < b"))},
			"invalid_blocks", "blocks[0].text.text: unescaped < at character 3"},
		{"raw brackets in a context element", []slack.MsgOption{text, blocks(slack.NewContextBlock("", mrkdwn("see <docs>")))},
			"invalid_blocks", `blocks[0].elements[0].text: "<docs>" at character 5`},
		{"raw brackets in a field", []slack.MsgOption{text, blocks(slack.NewSectionBlock(nil, []*slack.TextBlockObject{mrkdwn("<vpc-id>")}, nil))},
			"invalid_blocks", `blocks[0].fields[0].text: "<vpc-id>" at character 1`},
		{"raw brackets in the top-level text", []slack.MsgOption{slack.MsgOptionText("usage: /astro-ip <cluster>", false)},
			"invalid_arguments", `text: "<cluster>" at character 18 is not a link, mention or date`},
		{"blocks without text", []slack.MsgOption{blocks(section("*Request #7*"))},
			"no_text", "text: missing beside blocks"},
		{"text over 40000", []slack.MsgOption{slack.MsgOptionText(long("a", 40001), false)},
			"msg_too_long", "text: 40001 characters, the limit is 40000"},

		// Accepted.
		{"links", []slack.MsgOption{slack.MsgOptionText("see <https://example.com/r/7|request 7>", false),
			blocks(section("<https://example.com/r/7|request 7>, <http://example.com>, <mailto:a@example.com|mail us>"))}, "", ""},
		{"mentions", []slack.MsgOption{text, blocks(section(
			"<@U123> <@W456|bob> <#C789> <#C789|support> <!subteam^S0SUPPORT> <!subteam^S1|@support> <!here> <!channel> <!everyone>"))}, "", ""},
		{"date", []slack.MsgOption{text, blocks(section("opened <!date^1700000000^{date_short}|2023-11-14>"))}, "", ""},
		{"escapes", []slack.MsgOption{slack.MsgOptionText("usage: /astro-ip &lt;cluster&gt;", false),
			blocks(section("/astro-ip &lt;cluster&gt; &amp; Q&amp;A -&gt; done"))}, "", ""},
		{"text escaped by slack-go", []slack.MsgOption{slack.MsgOptionText("usage: /astro-ip <cluster> & more", true)}, "", ""},
		{"plain_text is not mrkdwn", []slack.MsgOption{text, blocks(slack.NewSectionBlock(plain("a <b> & c"), nil, nil),
			slack.NewHeaderBlock(plain("Q&A <cluster>")))}, "", ""},
		{"section of 3000 characters", []slack.MsgOption{text, blocks(section(long("a", 3000)))}, "", ""},
		{"3000 characters of 2 bytes", []slack.MsgOption{text, blocks(section(long("é", 3000)))}, "", ""},
		{"exactly 50 blocks", []slack.MsgOption{text, blocks(sections(50)...)}, "", ""},
		{"10 fields of 2000", []slack.MsgOption{text, blocks(slack.NewSectionBlock(nil, func() []*slack.TextBlockObject {
			fields := make([]*slack.TextBlockObject, 10)
			for i := range fields {
				fields[i] = mrkdwn(long("f", 2000))
			}
			return fields
		}(), nil))}, "", ""},
		{"header of 150, button of 75", []slack.MsgOption{text, blocks(slack.NewHeaderBlock(plain(long("h", 150))),
			actions(button("approve", long("x", 75)).WithStyle(slack.StylePrimary), button("deny", "Deny").WithStyle(slack.StyleDanger)))}, "", ""},
		{"100 options", []slack.MsgOption{text, blocks(staticSelect(options(100)...))}, "", ""},
		{"text of 40000", []slack.MsgOption{slack.MsgOptionText(long("a", 40000), false)}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			_, _, err := newClient(s).PostMessageContext(testContext(t), "C1", tt.opts...)
			found := s.Violations()
			if tt.wantErr == "" {
				if err != nil || len(found) > 0 {
					t.Errorf("PostMessage: %v, violations:\n%s\nwant a valid message", err, problems(found))
				}
				return
			}
			if got := slackError(err); got != tt.wantErr {
				t.Errorf("PostMessage error = %v, want Slack error %q", err, tt.wantErr)
			}
			if !strings.Contains(problems(found), "chat.postMessage: "+tt.wantProblem) {
				t.Errorf("violations:\n%s\nwant one with %q", problems(found), tt.wantProblem)
			}
		})
	}
}

func TestEveryChatMethodChecksItsMessage(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	bad := []slack.MsgOption{slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(section(strings.Repeat("a", 3001)))}
	tests := []struct {
		method string
		send   func(opts ...slack.MsgOption) error
	}{
		{"chat.postMessage", func(opts ...slack.MsgOption) error {
			_, _, err := api.PostMessageContext(ctx, "C1", opts...)
			return err
		}},
		{"chat.update", func(opts ...slack.MsgOption) error {
			_, _, _, err := api.UpdateMessageContext(ctx, "C1", "1700000000.000001", opts...)
			return err
		}},
		{"chat.postEphemeral", func(opts ...slack.MsgOption) error {
			_, err := api.PostEphemeralContext(ctx, "C1", "U1", opts...)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.method, func(t *testing.T) {
			before := len(s.Violations())
			if err := tt.send(bad...); slackError(err) != "invalid_blocks" {
				t.Errorf("invalid message: error = %v, want invalid_blocks", err)
			}
			found := s.Violations()[before:]
			if len(found) != 1 || found[0] != (fakeslack.Violation{Method: tt.method, Path: "blocks[0].text", Problem: "3001 characters, the limit is 3000"}) {
				t.Errorf("violations:\n%s\nwant the one long section", problems(found))
			}
			if err := tt.send(slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(section("ok"))); err != nil {
				t.Errorf("valid message: %v", err)
			}
		})
	}
}

func TestRefusalCarriesSlackMessages(t *testing.T) {
	s := newServer(t)
	_, _, err := newClient(s).PostMessageContext(testContext(t), "C1", slack.MsgOptionBlocks(section(strings.Repeat("a", 3001))))
	e, ok := errors.AsType[slack.SlackErrorResponse](err)
	if !ok || e.Err != "no_text" {
		t.Fatalf("error = %v, want no_text", err)
	}
	want := []string{
		"[ERROR] missing beside blocks: Slack needs it as the notification and screen-reader text [json-pointer:/text]",
		"[ERROR] 3001 characters, the limit is 3000 [json-pointer:/blocks/0/text]",
	}
	if got := e.ResponseMetadata.Messages; strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("response_metadata.messages = %q, want %q", got, want)
	}
}

func TestViewLimits(t *testing.T) {
	long := strings.Repeat
	input := func(label string, el slack.BlockElement) *slack.InputBlock {
		return slack.NewInputBlock("vpc", plain(label), nil, el)
	}
	textInput := func() *slack.PlainTextInputBlockElement {
		return slack.NewPlainTextInputBlockElement(plain("vpc-0a1b2c3d"), "vpc_id")
	}
	withInput := func(v *slack.ModalViewRequest, in *slack.InputBlock) {
		v.Submit = plain("Submit")
		v.Blocks.BlockSet = []slack.Block{in}
	}
	tests := []struct {
		name        string
		edit        func(*slack.ModalViewRequest)
		wantProblem string // "" when the view is valid
	}{
		// Refused.
		{"101 blocks", func(v *slack.ModalViewRequest) { v.Blocks.BlockSet = sections(101) },
			"view.blocks: 101 blocks, the limit is 100"},
		{"title over 24", func(v *slack.ModalViewRequest) { v.Title = plain(long("t", 25)) },
			"view.title: 25 characters, the limit is 24"},
		{"no title", func(v *slack.ModalViewRequest) { v.Title = nil },
			"view.title: missing"},
		{"mrkdwn title", func(v *slack.ModalViewRequest) { v.Title = mrkdwn("*Peering*") },
			"view.title.type: mrkdwn, must be plain_text"},
		{"submit over 24", func(v *slack.ModalViewRequest) { v.Submit = plain(long("s", 25)) },
			"view.submit: 25 characters, the limit is 24"},
		{"close over 24", func(v *slack.ModalViewRequest) { v.Close = plain(long("c", 25)) },
			"view.close: 25 characters, the limit is 24"},
		{"inputs without submit", func(v *slack.ModalViewRequest) {
			v.Blocks.BlockSet = []slack.Block{input("VPC", textInput())}
		}, "view.submit: missing: a modal with input blocks needs submit"},
		{"private_metadata over 3000", func(v *slack.ModalViewRequest) { v.PrivateMetadata = long("m", 3001) },
			"view.private_metadata: 3001 characters, the limit is 3000"},
		{"callback_id over 255", func(v *slack.ModalViewRequest) { v.CallbackID = long("c", 256) },
			"view.callback_id: 256 characters, the limit is 255"},
		{"input label over 2000", func(v *slack.ModalViewRequest) { withInput(v, input(long("l", 2001), textInput())) },
			"view.blocks[0].label: 2001 characters, the limit is 2000"},
		{"input hint over 2000", func(v *slack.ModalViewRequest) {
			in := input("VPC", textInput())
			in.Hint = plain(long("h", 2001))
			withInput(v, in)
		}, "view.blocks[0].hint: 2001 characters, the limit is 2000"},
		{"input without element", func(v *slack.ModalViewRequest) { withInput(v, input("VPC", nil)) },
			"view.blocks[0].element: missing"},
		{"placeholder over 150", func(v *slack.ModalViewRequest) {
			el := textInput()
			el.Placeholder = plain(long("p", 151))
			withInput(v, input("VPC", el))
		}, "view.blocks[0].element.placeholder: 151 characters, the limit is 150"},
		{"initial_value over max_length", func(v *slack.ModalViewRequest) {
			el := textInput()
			el.MaxLength, el.InitialValue = 12, "vpc-0a1b2c3d4e5f"
			withInput(v, input("VPC", el))
		}, "view.blocks[0].element.initial_value: 16 characters, more than its max_length 12"},
		{"raw brackets in a section", func(v *slack.ModalViewRequest) { v.Blocks.BlockSet = []slack.Block{section("Give <vpc-id>")} },
			`view.blocks[0].text.text: "<vpc-id>" at character 6 is not a link, mention or date`},

		// Accepted.
		{"exactly 100 blocks", func(v *slack.ModalViewRequest) { v.Blocks.BlockSet = sections(100) }, ""},
		{"inputs with submit", func(v *slack.ModalViewRequest) { withInput(v, input("VPC", textInput())) }, ""},
		{"limits reached", func(v *slack.ModalViewRequest) {
			v.Title, v.Submit, v.Close = plain(long("t", 24)), plain(long("s", 24)), plain(long("c", 24))
			v.PrivateMetadata, v.CallbackID = long("m", 3000), long("c", 255)
			el := textInput()
			el.MaxLength, el.InitialValue = 12, "vpc-0a1b2c3d"
			withInput(v, input(long("l", 2000), el))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			v := modal("peer_request", "")
			tt.edit(&v)
			_, err := newClient(s).OpenViewContext(testContext(t), "trigger-1", v)
			found := s.Violations()
			if tt.wantProblem == "" {
				if err != nil || len(found) > 0 {
					t.Errorf("OpenView: %v, violations:\n%s\nwant a valid view", err, problems(found))
				}
				return
			}
			e, ok := errors.AsType[slack.SlackErrorResponse](err)
			if !ok || e.Err != "invalid_arguments" || len(e.ResponseMetadata.Messages) == 0 || !strings.HasPrefix(e.ResponseMetadata.Messages[0], "[ERROR] ") {
				t.Errorf("OpenView error = %#v, want invalid_arguments with [ERROR] messages", err)
			}
			if !strings.Contains(problems(found), "views.open: "+tt.wantProblem) {
				t.Errorf("violations:\n%s\nwant one with %q", problems(found), tt.wantProblem)
			}
		})
	}
}

func TestViewsUpdateAndPublishCheckViews(t *testing.T) {
	s := newServer(t)
	api := newClient(s)
	ctx := testContext(t)
	opened, err := api.OpenViewContext(ctx, "trigger-1", modal("peer_request", ""))
	if err != nil {
		t.Fatalf("OpenView: %v", err)
	}
	tooLong := modal("peer_request", "")
	tooLong.Title = plain("Peering request for cluster c1")
	_, err = api.UpdateViewContext(ctx, tooLong, "", "", opened.View.ID)
	e, _ := errors.AsType[slack.SlackErrorResponse](err)
	if wantMsg := "[ERROR] 30 characters, the limit is 24 [json-pointer:/view/title]"; e.Err != "invalid_arguments" || len(e.ResponseMetadata.Messages) != 1 || e.ResponseMetadata.Messages[0] != wantMsg {
		t.Errorf("UpdateView with a long title: %#v, want invalid_arguments with %q", err, wantMsg)
	}

	publish := func(n int) error {
		home := slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: sections(n)}}
		_, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: "U1", View: home})
		return err
	}
	if err := publish(101); slackError(err) != "invalid_arguments" {
		t.Errorf("PublishView with 101 blocks: %v, want invalid_arguments", err)
	}
	if err := publish(100); err != nil {
		t.Errorf("PublishView with 100 blocks and no title: %v, want success", err)
	}
	want := []fakeslack.Violation{
		{Method: "views.update", Path: "view.title", Problem: "30 characters, the limit is 24"},
		{Method: "views.publish", Path: "view.blocks", Problem: "101 blocks, the limit is 100"},
	}
	if got := s.Violations(); problems(got) != problems(want) {
		t.Errorf("violations:\n%s\nwant:\n%s", problems(got), problems(want))
	}
}

func TestResponseURLLimits(t *testing.T) {
	long := strings.Repeat
	blocks := func(bs ...slack.Block) *slack.Blocks { return &slack.Blocks{BlockSet: bs} }
	tests := []struct {
		name        string
		msg         slack.WebhookMessage
		wantProblem string // "" when the post is valid
	}{
		{"section of 3001 characters", slack.WebhookMessage{Text: "fallback", Blocks: blocks(section(long("a", 3001)))},
			"blocks[0].text: 3001 characters, the limit is 3000"},
		{"51 blocks", slack.WebhookMessage{Text: "fallback", Blocks: blocks(sections(51)...)},
			"blocks: 51 blocks, the limit is 50"},
		{"blocks without text", slack.WebhookMessage{Blocks: blocks(section("done")), ReplaceOriginal: true},
			"text: missing beside blocks"},
		{"raw brackets in text", slack.WebhookMessage{Text: "usage: /astro-ip <cluster>", ResponseType: slack.ResponseTypeEphemeral},
			`text: "<cluster>" at character 18`},
		{"unknown response_type", slack.WebhookMessage{Text: "hi", ResponseType: "public"},
			`response_type: public, must be ephemeral or in_channel`},
		{"nothing", slack.WebhookMessage{}, "text: missing: a message needs text"},

		{"text and blocks", slack.WebhookMessage{Text: "Cluster c1: 203.0.113.7", Blocks: blocks(section("*c1*: `203.0.113.7`")),
			ResponseType: slack.ResponseTypeInChannel, ReplaceOriginal: true}, ""},
		{"delete without text", slack.WebhookMessage{DeleteOriginal: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			err := slack.PostWebhookContext(testContext(t), s.ResponseURL("1"), &tt.msg)
			found := s.Violations()
			if tt.wantProblem == "" {
				if err != nil || len(found) > 0 {
					t.Errorf("PostWebhook: %v, violations:\n%s\nwant a valid post", err, problems(found))
				}
				return
			}
			if sc, ok := errors.AsType[slack.StatusCodeError](err); !ok || sc.Code != http.StatusBadRequest {
				t.Errorf("PostWebhook error = %#v, want slack.StatusCodeError 400", err)
			}
			if !strings.Contains(problems(found), "response_url: "+tt.wantProblem) {
				t.Errorf("violations:\n%s\nwant one with %q", problems(found), tt.wantProblem)
			}
		})
	}
}

func TestResponseURLAnswersTheErrorCode(t *testing.T) {
	s := newServer(t)
	ctx := testContext(t)
	_, _, err := newClient(s).PostMessageContext(ctx, "", slack.MsgOptionResponseURL(s.ResponseURL("1"), slack.ResponseTypeEphemeral),
		slack.MsgOptionBlocks(section("no fallback")))
	if err == nil {
		t.Error("post to response_url with blocks and no text succeeded, want an error")
	}
	resp, err := http.Post(s.ResponseURL("2"), "application/json", strings.NewReader(`{"text":"x","blocks":[{"type":"header","text":{"type":"mrkdwn","text":"x"}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(body)) != "invalid_blocks" || err != nil {
		t.Errorf("answer = %s %q (%v), want 400 invalid_blocks", resp.Status, body, err)
	}
}

// blocksJSON returns the JSON of n sections.
func blocksJSON(t *testing.T, n int) string {
	t.Helper()
	b, err := json.Marshal(sections(n))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckAcks(t *testing.T) {
	long := strings.Repeat
	opts := func(n int) string {
		b, err := json.Marshal(map[string]any{"options": options(n)})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	const validView = `{"type":"modal","title":{"type":"plain_text","text":"Peering"},"submit":{"type":"plain_text","text":"Send"},` +
		`"blocks":[{"type":"input","block_id":"vpc","label":{"type":"plain_text","text":"VPC"},"element":{"type":"plain_text_input","action_id":"vpc_id"}}]}`
	tests := []struct {
		name  string
		check func([]byte) []fakeslack.Violation
		body  string
		want  []string // each part of one violation, as "method: path: problem"; none when the ack is valid
	}{
		{"command: empty", fakeslack.CheckCommandAck, "", nil},
		{"command: null", fakeslack.CheckCommandAck, "null", nil},
		{"command: empty object", fakeslack.CheckCommandAck, "{}", nil},
		{"command: text", fakeslack.CheckCommandAck, `{"response_type":"ephemeral","text":"Clusters: c1, c2 &lt;new&gt;"}`, nil},
		{"command: text and blocks", fakeslack.CheckCommandAck, `{"response_type":"in_channel","text":"c1","blocks":` + blocksJSON(t, 50) + `}`, nil},
		{"command: raw brackets", fakeslack.CheckCommandAck, `{"response_type":"ephemeral","text":"usage: /astro-ip <cluster>"}`,
			[]string{`slash command ack: text: "<cluster>" at character 18 is not a link, mention or date`}},
		{"command: blocks without text", fakeslack.CheckCommandAck, `{"blocks":` + blocksJSON(t, 1) + `}`,
			[]string{"slash command ack: text: missing beside blocks"}},
		{"command: 51 blocks", fakeslack.CheckCommandAck, `{"text":"x","blocks":` + blocksJSON(t, 51) + `}`,
			[]string{"slash command ack: blocks: 51 blocks, the limit is 50"}},
		{"command: response_type", fakeslack.CheckCommandAck, `{"text":"x","response_type":"channel"}`,
			[]string{"slash command ack: response_type: channel, must be ephemeral or in_channel"}},
		{"command: not JSON", fakeslack.CheckCommandAck, `ok`,
			[]string{"slash command ack: not a JSON object"}},

		{"view_submission: empty", fakeslack.CheckViewSubmissionAck, "", nil},
		{"view_submission: clear", fakeslack.CheckViewSubmissionAck, `{"response_action":"clear"}`, nil},
		{"view_submission: errors", fakeslack.CheckViewSubmissionAck, `{"response_action":"errors","errors":{"vpc":"Use a VPC ID like vpc-0a1b2c3d."}}`, nil},
		{"view_submission: update", fakeslack.CheckViewSubmissionAck, `{"response_action":"update","view":` + validView + `}`, nil},
		{"view_submission: push", fakeslack.CheckViewSubmissionAck, `{"response_action":"push","view":` + validView + `}`, nil},
		{"view_submission: update with a long title", fakeslack.CheckViewSubmissionAck,
			`{"response_action":"update","view":{"type":"modal","title":{"type":"plain_text","text":"` + long("t", 25) + `"},"blocks":[]}}`,
			[]string{"view_submission ack: view.title: 25 characters, the limit is 24"}},
		{"view_submission: update to inputs without submit", fakeslack.CheckViewSubmissionAck,
			`{"response_action":"update","view":` + strings.Replace(validView, `"submit":{"type":"plain_text","text":"Send"},`, "", 1) + `}`,
			[]string{"view_submission ack: view.submit: missing: a modal with input blocks needs submit"}},
		{"view_submission: push without view", fakeslack.CheckViewSubmissionAck, `{"response_action":"push"}`,
			[]string{`view_submission ack: view: missing: response_action "push" needs a view`}},
		{"view_submission: no errors", fakeslack.CheckViewSubmissionAck, `{"response_action":"errors","errors":{}}`,
			[]string{"view_submission ack: errors: missing"}},
		{"view_submission: empty error", fakeslack.CheckViewSubmissionAck, `{"response_action":"errors","errors":{"vpc":""}}`,
			[]string{"view_submission ack: errors.vpc: not a message"}},
		{"view_submission: unknown action", fakeslack.CheckViewSubmissionAck, `{"response_action":"close"}`,
			[]string{`view_submission ack: response_action: "close", must be update, push, errors or clear`}},
		{"view_submission: no action", fakeslack.CheckViewSubmissionAck, `{"errors":{"vpc":"bad"}}`,
			[]string{"view_submission ack: response_action: missing"}},

		{"block_suggestion: empty", fakeslack.CheckOptionsAck, "", nil},
		{"block_suggestion: 100 options", fakeslack.CheckOptionsAck, opts(100), nil},
		{"block_suggestion: groups", fakeslack.CheckOptionsAck,
			`{"option_groups":[{"label":{"type":"plain_text","text":"Prod"},"options":[{"text":{"type":"plain_text","text":"c1"},"value":"c1"}]}]}`, nil},
		{"block_suggestion: 101 options", fakeslack.CheckOptionsAck, opts(101),
			[]string{"block_suggestion ack: options: 101 options, the limit is 100"}},
		{"block_suggestion: long option", fakeslack.CheckOptionsAck,
			`{"options":[{"text":{"type":"plain_text","text":"` + long("o", 76) + `"},"value":"` + long("v", 151) + `"}]}`,
			[]string{"block_suggestion ack: options[0].text: 76 characters, the limit is 75",
				"block_suggestion ack: options[0].value: 151 characters, the limit is 150"}},
		{"block_suggestion: mrkdwn option", fakeslack.CheckOptionsAck, `{"options":[{"text":{"type":"mrkdwn","text":"*c1*"},"value":"c1"}]}`,
			[]string{"block_suggestion ack: options[0].text.type: mrkdwn, must be plain_text"}},
		{"block_suggestion: long group label", fakeslack.CheckOptionsAck,
			`{"option_groups":[{"label":{"type":"plain_text","text":"` + long("l", 76) + `"},"options":[{"text":{"type":"plain_text","text":"c1"},"value":"c1"}]}]}`,
			[]string{"block_suggestion ack: option_groups[0].label: 76 characters, the limit is 75"}},
		{"block_suggestion: no options", fakeslack.CheckOptionsAck, `{"option":[]}`,
			[]string{"block_suggestion ack: options: missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			found := problems(tt.check([]byte(tt.body)))
			if len(tt.want) == 0 && found != "" {
				t.Errorf("violations:\n%s\nwant none", found)
			}
			for _, w := range tt.want {
				if !strings.Contains(found, w) {
					t.Errorf("violations:\n%s\nwant one with %q", found, w)
				}
			}
		})
	}
}

func TestMrkdwnControlCharacters(t *testing.T) {
	tests := []struct {
		text string
		ok   bool
	}{
		{"plain words, *bold* and `code`", true},
		{"<https://example.com/a?b=1&amp;c=2|a link>", true},
		{"<http://example.com>", true},
		{"<mailto:ops@example.com|ops>", true},
		{"<@U0123ABC> and <@W0123ABC|bob>", true},
		{"<#C0123ABC> <#C0123ABC|support> <#G0123ABC>", true},
		{"<!subteam^S0123ABC> <!subteam^S0123ABC|@support>", true},
		{"<!here> <!channel> <!everyone>", true},
		{"<!date^1700000000^{date_short}|2023-11-14>", true},
		{"&lt;cluster&gt; &amp; &amp;amp;", true},
		{"é <@U1> ü", true},

		{"/astro-ip <cluster>", false},
		{"<your-sg-id>", false},
		{"a < b", false},
		{"a > b", false},
		{"> quoted", false},
		{"Q&A", false},
		{"&nbsp;", false},
		{"&#60;", false},
		{"<@u123>", false},
		{"<@X123>", false},
		{"<#D123>", false},
		{"<!subteam^>", false},
		{"<!date^1700000000^{date_short}>", false},
		{"<!date^|fallback>", false},
		{"<https://>", false},
		{"<https://example.com/a b|x>", false},
		{"<ftp://example.com>", false},
		{"<!here", false},
		{"<<@U123>", false},
		{"```<code>```", false},
		{"<https://example.com|Q&A>", false},
	}
	for _, tt := range tests {
		body, err := json.Marshal(map[string]string{"text": tt.text})
		if err != nil {
			t.Fatal(err)
		}
		found := fakeslack.CheckCommandAck(body)
		if ok := len(found) == 0; ok != tt.ok {
			t.Errorf("text %q: violations:\n%s\nwant valid = %v", tt.text, problems(found), tt.ok)
		}
	}
}

func TestMrkdwnProblemsAreCapped(t *testing.T) {
	found := fakeslack.CheckCommandAck([]byte(`{"text":"` + strings.Repeat("a&", 9) + `"}`))
	if len(found) != 6 || found[0].Problem != `unescaped & at character 2 ("a&a&a&a&a&a&a"): write &amp;` ||
		found[5].Problem != "and 4 more unescaped control characters" {
		t.Errorf("violations:\n%s\nwant 5 then a summary of 4 more", problems(found))
	}
}

func TestSocketModeAcksAreChecked(t *testing.T) {
	s := newServer(t)
	ctx := testContext(t)
	runSocketMode(t, s, func(evt socketmode.Event) any {
		if evt.Type == socketmode.EventTypeSlashCommand {
			return map[string]any{"response_type": "ephemeral", "text": "usage: /astro-ip <cluster>"}
		}
		return map[string]any{"response_action": "update", "view": map[string]any{"type": "modal"}}
	})
	ack, err := s.SendEnvelope(ctx, "slash_commands", map[string]string{"command": "/astro-ip", "text": ""})
	if err != nil {
		t.Fatalf("SendEnvelope: %v", err)
	}
	if want := `{"response_type":"ephemeral","text":"usage: /astro-ip \u003ccluster\u003e"}`; string(ack) != want {
		t.Errorf("ack = %s, want it as sent: %s", ack, want)
	}
	if _, err := s.SendEnvelope(ctx, "interactive", map[string]any{"type": "view_submission", "view": map[string]any{"id": "V1"}}); err != nil {
		t.Fatalf("SendEnvelope: %v", err)
	}
	want := []fakeslack.Violation{
		{Method: "slash command ack", Path: "text", Problem: `"<cluster>" at character 18 is not a link, mention or date: write &lt; and &gt;`},
		{Method: "view_submission ack", Path: "view.title", Problem: "missing"},
	}
	if got := s.Violations(); problems(got) != problems(want) {
		t.Errorf("violations:\n%s\nwant:\n%s", problems(got), problems(want))
	}
}

// recordingTB is a testing.TB that records Errorf calls instead of failing.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	errors []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

func (r *recordingTB) recorded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

func TestWithTestFailsTheTest(t *testing.T) {
	rec := &recordingTB{TB: t}
	s := newServer(t, fakeslack.WithTest(rec))
	api := newClient(s)
	ctx := testContext(t)

	if _, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("fine", false), slack.MsgOptionBlocks(section("fine"))); err != nil {
		t.Fatalf("valid PostMessage: %v", err)
	}
	if got := rec.recorded(); len(got) != 0 {
		t.Fatalf("a valid message failed the test: %q", got)
	}

	_, _, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionBlocks(section(strings.Repeat("a", 3001)), section("Q&A")))
	if slackError(err) != "no_text" {
		t.Errorf("PostMessage error = %v, want no_text", err)
	}
	bad := modal("peer_request", "")
	bad.Title = plain(strings.Repeat("t", 25))
	if _, err := api.OpenViewContext(ctx, "trigger-1", bad); slackError(err) != "invalid_arguments" {
		t.Errorf("OpenView error = %v, want invalid_arguments", err)
	}

	got := rec.recorded()
	if len(got) != 2 {
		t.Fatalf("Errorf calls = %q, want one for each refused call", got)
	}
	for _, want := range []string{
		"fakeslack: chat.postMessage was answered no_text",
		"text: missing beside blocks",
		"blocks[0].text: 3001 characters, the limit is 3000",
		`blocks[1].text.text: unescaped & at character 2`,
	} {
		if !strings.Contains(got[0], want) {
			t.Errorf("first Errorf = %q, want it to contain %q", got[0], want)
		}
	}
	if want := "fakeslack: views.open was answered invalid_arguments, as Slack would:\n\tview.title: 25 characters, the limit is 24"; got[1] != want {
		t.Errorf("second Errorf = %q, want %q", got[1], want)
	}
	if n := len(s.Violations()); n != 4 {
		t.Errorf("recorded %d violations, want 4: WithTest records them as well", n)
	}
}
