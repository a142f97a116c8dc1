package fakeslack

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
)

// checks is where the Server's payload checks report: the test to fail and
// the violations found so far.
type checks struct {
	tb    testing.TB  // set by WithTest; nil otherwise
	found []Violation // guarded by Server.mu
}

// WithTest makes every payload that breaks Slack's Block Kit rules fail t:
// each time the fake refuses a payload (or sees an invalid Socket Mode
// acknowledgement) it calls t.Errorf at once, naming the method and every
// problem. The Server must be closed before t ends, as t.Cleanup(s.Close)
// does. Without WithTest invalid payloads are still refused and recorded
// (see Violations), but nothing fails unless the test looks.
func WithTest(t testing.TB) Option {
	return func(s *Server) { s.checks.tb = t }
}

// Violations returns every violation of Slack's rules found so far in the
// payloads the Server received, in arrival order.
func (s *Server) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.checks.found)
}

// report records found and, with WithTest, fails the test. consequence says
// what the fake did about it.
func (s *Server) report(found []Violation, consequence string) {
	if len(found) == 0 {
		return
	}
	s.mu.Lock()
	s.checks.found = append(s.checks.found, found...)
	s.mu.Unlock()
	if s.checks.tb == nil {
		return
	}
	problems := make([]string, len(found))
	for i, v := range found {
		problems[i] = v.Path + ": " + v.Problem
		if v.Path == "" {
			problems[i] = v.Problem
		}
	}
	s.checks.tb.Errorf("fakeslack: %s %s:\n\t%s", found[0].Method, consequence, strings.Join(problems, "\n\t"))
}

// checkCall checks the payload of a Web API call that carries a message or
// a view. When the payload breaks a rule, checkCall records it and returns
// Slack's answer; otherwise it returns false and the method runs.
func (s *Server) checkCall(c Call) (result, bool) {
	ck := checker{method: c.Method}
	switch c.Method {
	case "chat.postMessage", "chat.update", "chat.postEphemeral":
		ck.blockCode = "invalid_blocks"
		checkMessage(&ck, callFields(c), false)
	case "views.open", "views.update", "views.push", "views.publish":
		view, ok := c.object("view")
		if !ok {
			return nil, false // the method itself answers invalid_arguments
		}
		ck.blockCode = "invalid_arguments"
		want := "modal"
		if c.Method == "views.publish" {
			want = "home"
		}
		checkView(&ck, "view", view, want)
	}
	if len(ck.found) == 0 {
		return nil, false
	}
	s.report(ck.found, "was answered "+ck.code+", as Slack would")
	return result{"ok": false, "error": ck.code, "response_metadata": result{"messages": slackMessages(ck.found)}}, true
}

// checkResponseURL checks the message posted to a response_url. When it
// breaks a rule, checkResponseURL records it and answers as Slack does, with
// HTTP 400 and the error code as the body, and returns true.
func (s *Server) checkResponseURL(w http.ResponseWriter, c Call) bool {
	ck := checker{method: c.Method, blockCode: "invalid_blocks"}
	checkMessage(&ck, callFields(c), true)
	if len(ck.found) == 0 {
		return false
	}
	s.report(ck.found, "was answered 400 "+ck.code+", as Slack would")
	http.Error(w, ck.code, http.StatusBadRequest)
	return true
}

// checkAck checks the acknowledgement ack of a Socket Mode envelope of type
// envType carrying payload, and records its violations.
func (s *Server) checkAck(envType string, payload, ack json.RawMessage) {
	var found []Violation
	switch envType {
	case "slash_commands":
		found = CheckCommandAck(ack)
	case "interactive":
		var p struct {
			Type string `json:"type"`
		}
		_ = json.Unmarshal(payload, &p)
		switch p.Type {
		case "view_submission":
			found = CheckViewSubmissionAck(ack)
		case "block_suggestion":
			found = CheckOptionsAck(ack)
		}
	}
	s.report(found, "breaks Slack's rules (Slack would refuse or garble it)")
}

// callFields returns the parameters of c as one JSON object: its JSON body,
// overlaid with its form and query fields (as strings).
func callFields(c Call) map[string]any {
	m := maps.Clone(c.JSON)
	if m == nil {
		m = make(map[string]any)
	}
	for k, vs := range c.Form {
		if len(vs) > 0 {
			m[k] = vs[0]
		}
	}
	return m
}

// slackMessages formats violations as Slack's response_metadata.messages,
// such as "[ERROR] must define submit to use input block
// [json-pointer:/view/blocks/0/input]".
func slackMessages(found []Violation) []string {
	pointer := strings.NewReplacer("[", "/", "]", "", ".", "/")
	msgs := make([]string, len(found))
	for i, v := range found {
		msgs[i] = "[ERROR] " + v.Problem + " [json-pointer:/" + pointer.Replace(v.Path) + "]"
	}
	return msgs
}
