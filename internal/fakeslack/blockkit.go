package fakeslack

// This file checks Block Kit payloads against the limits Slack enforces, so
// that a test sending a payload real Slack would refuse (or garble) fails
// against the fake as well. The limits, from the Block Kit reference:
//
//   - Per surface: at most 50 blocks in a message, 100 in a modal or Home tab.
//     block_id at most 255 characters and unique within the surface;
//     action_id at most 255 and unique within its block.
//   - Text objects: plain_text or mrkdwn, 1 to 3000 characters unless a
//     tighter limit applies where they are used.
//   - section: text 1–3000 characters (a section needs text or fields); at
//     most 10 fields, each at most 2000.
//   - header: plain_text only, at most 150 characters.
//   - context: at most 10 elements. actions: at most 25 elements.
//   - button: text plain_text at most 75, value at most 2000, url at most
//     3000, style only "primary" or "danger" (or absent).
//   - static select: at most 100 options (also in option_groups, each group
//     with a plain_text label of at most 75), option text at most 75, option
//     value at most 150, option description at most 75. Overflow menus take at
//     most 5 options, checkboxes and radio buttons at most 10.
//   - Every element: placeholder plain_text at most 150.
//   - modal view: title (required), submit and close plain_text, at most 24
//     characters each; submit is required when the view has input blocks;
//     private_metadata at most 3000; callback_id and external_id at most 255.
//     Home tabs have the same limits except title, submit and close.
//   - input block: label plain_text at most 2000 (required), an element
//     (required), hint plain_text at most 2000; a plain_text_input
//     initial_value within its max_length.
//   - confirm dialog: title, text, confirm and deny all required; title
//     plain_text at most 100, text at most 300, confirm and deny plain_text
//     at most 30; style "primary" or "danger".
//   - message text: at most 40,000 characters, and present (non-empty) when
//     blocks are sent: Slack uses it as the notification and the
//     screen-reader text.
//   - mrkdwn control characters: in every mrkdwn text object and in a
//     message's top-level text (which Slack renders as mrkdwn), '<', '>' and
//     '&' must be escaped as &lt;, &gt; and &amp; unless they form a link,
//     mention or date: <https://…|text>, <http://…>, <mailto:…>, <@U…>,
//     <@W…>, <#C…>, <#C…|name>, <!subteam^S…>, <!here>, <!channel>,
//     <!everyone>, <!date^…|fallback>. An '&' must start &amp;, &lt; or
//     &gt;. Slack renders anything else wrongly: "/astro-ip <cluster>" shows
//     as "/astro-ip cluster". plain_text objects are not mrkdwn.
//
// Lengths are counted in characters (runes), as Slack counts them.

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"
)

// Violation is one way a payload breaks a rule Slack enforces.
type Violation struct {
	// Method is where the payload went: a Web API method such as
	// "chat.postMessage", "response_url", or an acknowledgement such as
	// "slash command ack", "view_submission ack" or "block_suggestion ack".
	Method string
	// Path locates the offending value in the payload, such as
	// "blocks[3].text" or "view.title"; it is "" for the payload as a whole.
	Path string
	// Problem says what is wrong, such as "3120 characters, the limit is 3000".
	Problem string
}

// String formats v as "method: path: problem".
func (v Violation) String() string {
	if v.Path == "" {
		return v.Method + ": " + v.Problem
	}
	return v.Method + ": " + v.Path + ": " + v.Problem
}

// checker collects the violations of one payload.
type checker struct {
	method    string      // stamped on each violation
	blockCode string      // the error code of a violation inside blocks or views
	code      string      // the error code of the first violation found
	found     []Violation // in the order found
}

// add records a violation at path whose Slack error code is code.
func (ck *checker) add(code, path, format string, args ...any) {
	if ck.code == "" {
		ck.code = code
	}
	ck.found = append(ck.found, Violation{Method: ck.method, Path: path, Problem: fmt.Sprintf(format, args...)})
}

// bad records a violation inside blocks or a view.
func (ck *checker) bad(path, format string, args ...any) {
	ck.add(ck.blockCode, path, format, args...)
}

// at returns the path of key inside the value at path.
func at(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index returns the path of item i of the array at path.
func index(path string, i int) string {
	return fmt.Sprintf("%s[%d]", path, i)
}

// chars returns the length of s as Slack counts it, in characters.
func chars(s string) int {
	return utf8.RuneCountInString(s)
}

// str returns obj[key] when it is a string, "" when it is absent, and
// records a violation when it is something else.
func (ck *checker) str(obj map[string]any, path, key string) string {
	v, ok := obj[key]
	if !ok || v == nil {
		return ""
	}
	s, ok := v.(string)
	if !ok {
		ck.bad(at(path, key), "not a string")
	}
	return s
}

// maxLen records a violation when the string obj[key] is longer than limit.
func (ck *checker) maxLen(obj map[string]any, path, key string, limit int) {
	if n := chars(ck.str(obj, path, key)); n > limit {
		ck.bad(at(path, key), "%d characters, the limit is %d", n, limit)
	}
}

// object returns v as a JSON object, recording a violation at path when it
// is not one. what names the object expected, for the message.
func (ck *checker) object(path string, v any, what string) (map[string]any, bool) {
	obj, ok := v.(map[string]any)
	if !ok {
		ck.bad(path, "not %s object", what)
	}
	return obj, ok
}

// array returns v as a JSON array of at most limit items, recording a
// violation at path when it is not an array or is longer. It returns nil for
// an absent (nil) v.
func (ck *checker) array(path string, v any, limit int, what string) []any {
	if v == nil {
		return nil
	}
	items, ok := v.([]any)
	if !ok {
		ck.bad(path, "not an array of %s", what)
		return nil
	}
	if len(items) > limit {
		ck.bad(path, "%d %s, the limit is %d", len(items), what, limit)
	}
	return items
}

// rule is what a text object must be where it is used.
type rule struct {
	max      int  // the most characters; 0 means the text object limit, 3000
	plain    bool // plain_text only
	required bool // must be present
}

// text checks the text object v found at path.
func (ck *checker) text(path string, v any, r rule) {
	if v == nil {
		if r.required {
			ck.bad(path, "missing")
		}
		return
	}
	t, ok := ck.object(path, v, "a text")
	if !ok {
		return
	}
	typ, _ := t["type"].(string)
	switch {
	case typ == "plain_text":
	case typ == "mrkdwn" && r.plain:
		ck.bad(at(path, "type"), "mrkdwn, must be plain_text")
	case typ == "mrkdwn":
	default:
		ck.bad(at(path, "type"), "%q, must be plain_text or mrkdwn", typ)
	}
	s, ok := t["text"].(string)
	if !ok {
		ck.bad(at(path, "text"), "missing")
		return
	}
	limit := r.max
	if limit == 0 {
		limit = 3000
	}
	switch n := chars(s); {
	case n == 0:
		ck.bad(path, "empty, the minimum is 1 character")
	case n > limit:
		ck.bad(path, "%d characters, the limit is %d", n, limit)
	}
	if typ == "mrkdwn" {
		ck.mrkdwn(ck.blockCode, at(path, "text"), s)
	}
}

// style checks the optional style of a button or confirm dialog.
func (ck *checker) style(obj map[string]any, path string) {
	switch s := ck.str(obj, path, "style"); s {
	case "", "primary", "danger":
	default:
		ck.bad(at(path, "style"), "%q, must be primary or danger (or absent)", s)
	}
}

// checkMessage checks a message: its top-level text and its blocks. blocks
// may be an array or, as in form bodies, a JSON-encoded string. With
// webhook, m is a response_url post or a command acknowledgement, whose
// response_type, replace_original and delete_original are checked too, and
// which needs no text when it deletes the original message.
func checkMessage(ck *checker, m map[string]any, webhook bool) {
	text, isString := m["text"].(string)
	if m["text"] != nil && !isString {
		ck.add("invalid_arguments", "text", "not a string")
	}
	if n := chars(text); n > 40000 {
		ck.add("msg_too_long", "text", "%d characters, the limit is 40000", n)
	}

	blocks := m["blocks"]
	if s, ok := blocks.(string); ok {
		blocks = nil
		if s != "" {
			if err := json.Unmarshal([]byte(s), &blocks); err != nil {
				ck.add("invalid_blocks", "blocks", "not JSON: %v", err)
			}
		}
	}
	list, _ := blocks.([]any)

	deletes := false
	if webhook {
		switch t := m["response_type"]; t {
		case nil, "ephemeral", "in_channel":
		default:
			ck.add("invalid_arguments", "response_type", "%v, must be ephemeral or in_channel", t)
		}
		for _, key := range []string{"replace_original", "delete_original"} {
			if v, ok := m[key]; ok && v != nil {
				if _, ok := v.(bool); !ok {
					ck.add("invalid_arguments", key, "%v is not a boolean", v)
				}
			}
		}
		deletes = m["delete_original"] == true
	}
	switch {
	case text != "" || deletes:
	case len(list) > 0:
		ck.add("no_text", "text", "missing beside blocks: Slack needs it as the notification and screen-reader text")
	case m["attachments"] == nil || m["attachments"] == "":
		ck.add("no_text", "text", "missing: a message needs text")
	}

	checkBlocks(ck, "blocks", blocks, 50)
	ck.mrkdwn("invalid_arguments", "text", text)
}

// checkView checks the view v found at path, which must be of type want
// ("modal" or "home").
func checkView(ck *checker, path string, v map[string]any, want string) {
	if typ := ck.str(v, path, "type"); typ != want {
		ck.bad(at(path, "type"), "%q, must be %q here", typ, want)
	}
	hasInput := checkBlocks(ck, at(path, "blocks"), v["blocks"], 100)
	if want == "modal" {
		ck.text(at(path, "title"), v["title"], rule{max: 24, plain: true, required: true})
		ck.text(at(path, "submit"), v["submit"], rule{max: 24, plain: true})
		ck.text(at(path, "close"), v["close"], rule{max: 24, plain: true})
		if hasInput && v["submit"] == nil {
			ck.bad(at(path, "submit"), "missing: a modal with input blocks needs submit")
		}
	}
	ck.maxLen(v, path, "private_metadata", 3000)
	ck.maxLen(v, path, "callback_id", 255)
	ck.maxLen(v, path, "external_id", 255)
}

// checkBlocks checks the blocks v found at path, at most limit of them, and
// reports whether one of them is an input block.
func checkBlocks(ck *checker, path string, v any, limit int) (hasInput bool) {
	blockIDs := make(map[string]string) // block_id → path of the block
	for i, item := range ck.array(path, v, limit, "blocks") {
		p := index(path, i)
		b, ok := ck.object(p, item, "a block")
		if !ok {
			continue
		}
		if id := ck.str(b, p, "block_id"); id != "" {
			ck.maxLen(b, p, "block_id", 255)
			if first, dup := blockIDs[id]; dup {
				ck.bad(at(p, "block_id"), "%q is also the block_id of %s: block_ids must be unique", id, first)
			} else {
				blockIDs[id] = p
			}
		}
		actionIDs := make(map[string]string) // action_id → path of the element
		switch typ := ck.str(b, p, "type"); typ {
		case "":
			ck.bad(at(p, "type"), "missing")
		case "section":
			if b["text"] == nil && b["fields"] == nil {
				ck.bad(p, "a section needs text or fields")
			}
			ck.text(at(p, "text"), b["text"], rule{})
			for j, f := range ck.array(at(p, "fields"), b["fields"], 10, "fields") {
				ck.text(index(at(p, "fields"), j), f, rule{max: 2000, required: true})
			}
			if b["accessory"] != nil {
				checkElement(ck, at(p, "accessory"), b["accessory"], actionIDs)
			}
		case "header":
			ck.text(at(p, "text"), b["text"], rule{max: 150, plain: true, required: true})
		case "context":
			if b["elements"] == nil {
				ck.bad(at(p, "elements"), "missing")
			}
			for j, e := range ck.array(at(p, "elements"), b["elements"], 10, "elements") {
				if obj, ok := e.(map[string]any); ok && obj["type"] == "image" {
					continue
				}
				ck.text(index(at(p, "elements"), j), e, rule{required: true})
			}
		case "actions":
			if b["elements"] == nil {
				ck.bad(at(p, "elements"), "missing")
			}
			for j, e := range ck.array(at(p, "elements"), b["elements"], 25, "elements") {
				checkElement(ck, index(at(p, "elements"), j), e, actionIDs)
			}
		case "input":
			hasInput = true
			ck.text(at(p, "label"), b["label"], rule{max: 2000, plain: true, required: true})
			ck.text(at(p, "hint"), b["hint"], rule{max: 2000, plain: true})
			if b["element"] == nil {
				ck.bad(at(p, "element"), "missing")
			} else {
				checkElement(ck, at(p, "element"), b["element"], actionIDs)
			}
		}
	}
	return hasInput
}

// checkElement checks the block element v found at path. actionIDs holds
// the action_ids already used in the block, and gets v's.
func checkElement(ck *checker, path string, v any, actionIDs map[string]string) {
	e, ok := ck.object(path, v, "an element")
	if !ok {
		return
	}
	if id := ck.str(e, path, "action_id"); id != "" {
		ck.maxLen(e, path, "action_id", 255)
		if first, dup := actionIDs[id]; dup {
			ck.bad(at(path, "action_id"), "%q is also the action_id of %s: action_ids must be unique in their block", id, first)
		} else {
			actionIDs[id] = path
		}
	}
	ck.text(at(path, "placeholder"), e["placeholder"], rule{max: 150, plain: true})
	checkConfirm(ck, at(path, "confirm"), e["confirm"])
	switch typ := ck.str(e, path, "type"); typ {
	case "":
		ck.bad(at(path, "type"), "missing")
	case "button":
		ck.text(at(path, "text"), e["text"], rule{max: 75, plain: true, required: true})
		ck.maxLen(e, path, "value", 2000)
		ck.maxLen(e, path, "url", 3000)
		ck.style(e, path)
	case "static_select", "multi_static_select":
		checkSelectOptions(ck, path, e, true)
		if e["initial_option"] != nil {
			checkOption(ck, at(path, "initial_option"), e["initial_option"], true)
		}
		for j, o := range ck.array(at(path, "initial_options"), e["initial_options"], 100, "options") {
			checkOption(ck, index(at(path, "initial_options"), j), o, true)
		}
	case "overflow":
		checkOptions(ck, at(path, "options"), e["options"], 5, true)
	case "checkboxes", "radio_buttons":
		checkOptions(ck, at(path, "options"), e["options"], 10, false)
	case "plain_text_input":
		if limit, ok := e["max_length"].(float64); ok {
			if n := chars(ck.str(e, path, "initial_value")); n > int(limit) {
				ck.bad(at(path, "initial_value"), "%d characters, more than its max_length %d", n, int(limit))
			}
		}
	}
}

// checkSelectOptions checks the options or option_groups of obj, a static
// select or an options load answer, found at path. With required, one of
// them must be present.
func checkSelectOptions(ck *checker, path string, obj map[string]any, required bool) {
	if obj["options"] == nil && obj["option_groups"] == nil {
		if required {
			ck.bad(at(path, "options"), "missing: give options or option_groups")
		}
		return
	}
	if obj["options"] != nil {
		checkOptions(ck, at(path, "options"), obj["options"], 100, true)
	}
	groups := at(path, "option_groups")
	for i, g := range ck.array(groups, obj["option_groups"], 100, "option groups") {
		p := index(groups, i)
		group, ok := ck.object(p, g, "an option group")
		if !ok {
			continue
		}
		ck.text(at(p, "label"), group["label"], rule{max: 75, plain: true, required: true})
		checkOptions(ck, at(p, "options"), group["options"], 100, true)
	}
}

// checkOptions checks the array of options v found at path, which must hold
// 1 to limit options. plain restricts their text to plain_text.
func checkOptions(ck *checker, path string, v any, limit int, plain bool) {
	if v == nil {
		ck.bad(path, "missing")
		return
	}
	for i, o := range ck.array(path, v, limit, "options") {
		checkOption(ck, index(path, i), o, plain)
	}
}

// checkOption checks the option object v found at path.
func checkOption(ck *checker, path string, v any, plain bool) {
	o, ok := ck.object(path, v, "an option")
	if !ok {
		return
	}
	ck.text(at(path, "text"), o["text"], rule{max: 75, plain: plain, required: true})
	if o["value"] == nil {
		ck.bad(at(path, "value"), "missing")
	}
	ck.maxLen(o, path, "value", 150)
	ck.text(at(path, "description"), o["description"], rule{max: 75, plain: plain})
	ck.maxLen(o, path, "url", 3000)
}

// checkConfirm checks the confirm dialog v found at path, if any.
func checkConfirm(ck *checker, path string, v any) {
	if v == nil {
		return
	}
	c, ok := ck.object(path, v, "a confirm dialog")
	if !ok {
		return
	}
	ck.text(at(path, "title"), c["title"], rule{max: 100, plain: true, required: true})
	ck.text(at(path, "text"), c["text"], rule{max: 300, required: true})
	ck.text(at(path, "confirm"), c["confirm"], rule{max: 30, plain: true, required: true})
	ck.text(at(path, "deny"), c["deny"], rule{max: 30, plain: true, required: true})
	ck.style(c, path)
}

// maxMrkdwnProblems is how many control character problems are reported
// for one text; more are summed up in one more violation.
const maxMrkdwnProblems = 5

// mrkdwn records, with the error code code, each control character of the
// mrkdwn text s found at path that is neither escaped nor part of a link,
// mention or date.
func (ck *checker) mrkdwn(code, path, s string) {
	problems := mrkdwnProblems(s)
	if len(problems) > maxMrkdwnProblems {
		more := len(problems) - maxMrkdwnProblems
		problems = append(problems[:maxMrkdwnProblems], fmt.Sprintf("and %d more unescaped control characters", more))
	}
	for _, p := range problems {
		ck.add(code, path, "%s", p)
	}
}

// mrkdwnProblems describes each control character of the mrkdwn text s
// that is neither escaped nor part of a link, mention or date.
func mrkdwnProblems(s string) []string {
	var problems []string
	closing := -1 // byte index of the '>' that ends the last <…> seen
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '&':
			if !strings.HasPrefix(s[i:], "&amp;") && !strings.HasPrefix(s[i:], "&lt;") && !strings.HasPrefix(s[i:], "&gt;") {
				problems = append(problems, fmt.Sprintf("unescaped & at character %d (%q): write &amp;", chars(s[:i])+1, around(s, i)))
			}
		case '>':
			if i != closing {
				problems = append(problems, fmt.Sprintf("unescaped > at character %d (%q): write &gt;", chars(s[:i])+1, around(s, i)))
			}
		case '<':
			end := strings.IndexAny(s[i+1:], "<>")
			if end < 0 || s[i+1+end] == '<' {
				problems = append(problems, fmt.Sprintf("unescaped < at character %d (%q): write &lt;", chars(s[:i])+1, around(s, i)))
				continue
			}
			closing = i + 1 + end
			if seq := s[i : closing+1]; !isControlSequence(seq[1 : len(seq)-1]) {
				problems = append(problems, fmt.Sprintf("%q at character %d is not a link, mention or date: write &lt; and &gt;", seq, chars(s[:i])+1))
			}
		}
	}
	return problems
}

// around returns the part of s around byte index i, for a message.
func around(s string, i int) string {
	const span = 12 // bytes each side, at least
	start, end := max(0, i-span), min(len(s), i+span)
	for start > 0 && !utf8.RuneStart(s[start]) {
		start--
	}
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return s[start:end]
}

// isControlSequence reports whether inner, the text between '<' and '>',
// is a link, mention or date Slack formats.
func isControlSequence(inner string) bool {
	target, label, hasLabel := strings.Cut(inner, "|")
	for _, scheme := range []string{"https://", "http://", "mailto:"} {
		if rest, ok := strings.CutPrefix(target, scheme); ok {
			return rest != "" && !strings.ContainsAny(rest, " \t\n")
		}
	}
	if rest, ok := strings.CutPrefix(target, "!date^"); ok {
		return rest != "" && hasLabel && label != ""
	}
	switch {
	case strings.HasPrefix(target, "@"):
		return isID(target[1:], "UW")
	case strings.HasPrefix(target, "#"):
		return isID(target[1:], "CG")
	case strings.HasPrefix(target, "!subteam^"):
		return isID(strings.TrimPrefix(target, "!subteam^"), "S")
	}
	return target == "!here" || target == "!channel" || target == "!everyone"
}

// isID reports whether id is a Slack ID starting with one of the letters of
// first: upper-case letters and digits.
func isID(id, first string) bool {
	if len(id) < 2 || !strings.ContainsRune(first, rune(id[0])) {
		return false
	}
	for _, r := range id {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// CheckCommandAck checks the body of a slash command acknowledgement, the
// message Slack shows in answer to the command, as
// {"response_type":"ephemeral","text":…,"blocks":[…]}. It returns the
// violations found, none for a valid or empty body (an empty
// acknowledgement shows nothing). The fake sees the acknowledgements of
// envelopes it sends over Socket Mode and checks them itself; this function
// is for the acknowledgements it never sees, such as HTTP responses.
func CheckCommandAck(body []byte) []Violation {
	ck := checker{method: "slash command ack", blockCode: "invalid_blocks"}
	if m := decodeAck(&ck, body); len(m) > 0 {
		checkMessage(&ck, m, true)
	}
	return ck.found
}

// CheckViewSubmissionAck checks the body of a view_submission
// acknowledgement: empty (the modal closes), {"response_action":"clear"},
// {"response_action":"update"|"push","view":{…}} with a valid modal, or
// {"response_action":"errors","errors":{block_id: message, …}} with at least
// one non-empty message. Whether each block_id names an input block of the
// submitted view cannot be checked from the body alone, and Slack documents
// no length limit for the messages, so neither is checked.
func CheckViewSubmissionAck(body []byte) []Violation {
	ck := checker{method: "view_submission ack", blockCode: "invalid_arguments"}
	m := decodeAck(&ck, body)
	if len(m) == 0 {
		return ck.found
	}
	switch action := ck.str(m, "", "response_action"); action {
	case "update", "push":
		if view, ok := m["view"].(map[string]any); ok {
			checkView(&ck, "view", view, "modal")
		} else {
			ck.bad("view", "missing: response_action %q needs a view", action)
		}
	case "errors":
		errs, _ := m["errors"].(map[string]any)
		if len(errs) == 0 {
			ck.bad("errors", "missing: response_action errors needs an object of block_id: message")
		}
		for _, id := range slices.Sorted(maps.Keys(errs)) {
			if msg, _ := errs[id].(string); msg == "" {
				ck.bad(at("errors", id), "not a message")
			}
		}
	case "clear":
	case "":
		ck.bad("response_action", "missing")
	default:
		ck.bad("response_action", "%q, must be update, push, errors or clear", action)
	}
	return ck.found
}

// CheckOptionsAck checks the body of a block_suggestion acknowledgement, the
// options of an external select: {"options":[…]} or {"option_groups":[…]},
// at most 100 options (or groups of at most 100), each with plain_text text
// of at most 75 characters and a value of at most 150. An empty body (no
// options) is valid.
func CheckOptionsAck(body []byte) []Violation {
	ck := checker{method: "block_suggestion ack", blockCode: "invalid_arguments"}
	if m := decodeAck(&ck, body); len(m) > 0 {
		checkSelectOptions(&ck, "", m, true)
	}
	return ck.found
}

// decodeAck decodes the JSON object body of an acknowledgement. It returns
// nil for an empty body or null, and records a violation for anything but
// an object.
func decodeAck(ck *checker, body []byte) map[string]any {
	body = []byte(strings.TrimSpace(string(body)))
	if len(body) == 0 || string(body) == "null" {
		return nil
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		ck.bad("", "not a JSON object: %v", err)
		return nil
	}
	return m
}
