package astrobot

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestKindsComplete checks that every registered kind declares all a kind
// must: see checkKind.
func TestKindsComplete(t *testing.T) {
	prefixes, slugs := map[string]Kind{}, map[string]Kind{}
	for _, d := range Kinds() {
		t.Run(d.Slug(), func(t *testing.T) {
			for _, p := range checkKind(d) {
				t.Error(p)
			}
		})
		if k, dup := prefixes[d.Prefix()]; dup {
			t.Errorf("kinds %s and %s share the ID prefix %s", k, d.Kind(), d.Prefix())
		}
		if k, dup := slugs[d.Slug()]; dup {
			t.Errorf("kinds %s and %s share the slug %s", k, d.Kind(), d.Slug())
		}
		prefixes[d.Prefix()], slugs[d.Slug()] = d.Kind(), d.Kind()
	}
}

// TestCheckKindFindsGaps proves checkKind fails a kind with a declaration
// missing: each broken variant of the peering kind must be reported.
func TestCheckKindFindsGaps(t *testing.T) {
	tests := []struct {
		name string
		d    KindDef
		want string
	}{
		{"a state without an owner", brokenStates{edit: func(st []State) []State { st[1].Owner = ""; return st }}, "no owner"},
		{"a state without a next step", brokenStates{edit: func(st []State) []State { st[2].Next = ""; return st }}, "no next-step sentence"},
		{"an unreachable state", brokenStates{edit: func(st []State) []State { return append(st, State{"stranded", OwnerBot, "Nothing leads here.", false}) }}, "not reachable"},
		{"a state without a way out", brokenSteps{edit: func(r []Rule) []Rule {
			return slices.DeleteFunc(r, func(r Rule) bool { return r.Action == ActConfigured || r.Action == ActFail })
		}}, "cannot reach an end"},
		{"a button nobody may press", brokenSteps{edit: func(r []Rule) []Rule { r[1].Who = []Role{RoleBot}; return r }}, "button"},
		{"a step to an undeclared status", brokenSteps{edit: func(r []Rule) []Rule { r[0].To = "limbo"; return r }}, "undeclared"},
		{"a field without a validation error", brokenParse{}, "no error on field"},
		{"a customer step without instructions", brokenInstructions{}, "no instructions"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems := checkKind(tt.d)
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) }) {
				t.Fatalf("checkKind found %q, want a problem saying %q", problems, tt.want)
			}
		})
	}
}

type brokenStates struct {
	peeringKind
	edit func([]State) []State
}

func (b brokenStates) States() []State { return b.edit(b.peeringKind.States()) }

type brokenSteps struct {
	peeringKind
	edit func([]Rule) []Rule
}

func (b brokenSteps) Steps() []Rule { return b.edit(b.peeringKind.Steps()) }

// brokenParse accepts any VPC ID.
type brokenParse struct{ peeringKind }

func (b brokenParse) Parse(in Input, cl *Cluster) (Spec, []string, error) {
	in[FieldVPC] = "vpc-0abc12345678def90"
	return b.peeringKind.Parse(in, cl)
}

// brokenInstructions tells the customer nothing.
type brokenInstructions struct{ peeringKind }

func (brokenInstructions) Instructions(*Request, Cluster) *Instructions { return nil }

// testCluster is a cluster whose VPC overlaps no placeholder of any form.
var testCluster = Cluster{ID: "cl1", Name: "test", Organization: "o", Region: "us-east-1", AccountID: "111111111111",
	VPCID: "vpc-0123456789abcdef0", CIDRs: []netip.Prefix{netip.MustParsePrefix("172.31.0.0/16")}}

// checkKind returns the problems of kind d's declaration: names, states with
// an owner and a next step each, every state reachable from submitted and
// able to reach an end, steps between declared states, a rule behind every
// button and a Resource for the step that records one, a validation error for
// every form field, a spec that survives its JSON form, and instructions in
// every state in which the customer acts.
func checkKind(d KindDef) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	for name, v := range map[string]string{"Kind": string(d.Kind()), "Prefix": d.Prefix(), "Slug": d.Slug(),
		"Title": d.Title(), "Choose": d.Choose(), "Intro": d.Intro(nil), "Intro with a cluster": d.Intro(&testCluster)} {
		if strings.TrimSpace(v) == "" {
			bad("%s is empty", name)
		}
	}
	if strings.Trim(d.Prefix(), "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		bad("prefix %q is not upper-case letters", d.Prefix())
	}
	if strings.Trim(d.Slug(), "abcdefghijklmnopqrstuvwxyz") != "" {
		bad("slug %q is not lower-case letters", d.Slug())
	}
	if n, why := d.Limit(); n <= 0 || why == "" {
		bad("Limit() = %d, %q: give the most open requests a cluster may have, and why", n, why)
	}

	// States.
	declared := map[Status]bool{}
	for _, st := range d.States() {
		switch {
		case st.Status == StatusSubmitted || st.Status.Terminal() && st.Status != StatusDeleted:
			bad("state %s is common to every kind and may not be declared", st.Status)
		case declared[st.Status]:
			bad("state %s is declared twice", st.Status)
		}
		declared[st.Status] = true
		if st.Owner == "" {
			bad("state %s has no owner", st.Status)
		}
		if strings.TrimSpace(st.Next) == "" {
			bad("state %s has no next-step sentence", st.Status)
		}
	}
	for _, s := range []Status{StatusApproved, StatusActive} {
		if !declared[s] {
			bad("state %s is not declared", s)
		}
	}
	known := func(s Status) bool {
		return declared[s] || s == StatusSubmitted || s == StatusRejected || s == StatusCancelled
	}

	// Steps and buttons.
	res := d.Resource()
	resourceSteps := 0
	for _, r := range d.Steps() {
		for _, s := range append(slices.Clone(r.From), r.To) {
			if s != "" && !known(s) {
				bad("step %s uses the undeclared status %s", r.Action, s)
			}
		}
		if len(r.From) == 0 || r.Verb == "" || len(r.Who) == 0 {
			bad("step %s needs From, Who and a Verb", r.Action)
		}
		if r.Button != "" && !slices.Contains(r.Who, RoleSupport) {
			bad("step %s has the button %q but support may not take it", r.Action, r.Button)
		}
		if r.Resource {
			resourceSteps++
			if r.Button == "" {
				bad("step %s records the resource but has no button for manual mode", r.Action)
			}
		}
	}
	if resourceSteps != 1 {
		bad("%d steps record the resource, want exactly one", resourceSteps)
	}
	if res.Label == "" || res.Hint == "" || res.Validate == nil || res.Validate(res.Example) != nil || res.Validate("i-0123") == nil {
		bad("Resource() needs a label, a hint, a validator and a valid example")
	}
	if _, ok := RuleFor(d, ActCancel); !ok {
		bad("no cancel rule")
	}

	// Reachability over the rules, from submitted; and from every state to an end.
	rules := Rules(d)
	next := map[Status][]Status{}
	for _, r := range rules {
		if r.To == "" {
			continue
		}
		for _, f := range r.From {
			next[f] = append(next[f], r.To)
		}
	}
	reach := func(from Status) map[Status]bool {
		seen := map[Status]bool{from: true}
		for queue := []Status{from}; len(queue) > 0; queue = queue[1:] {
			for _, s := range next[queue[0]] {
				if !seen[s] {
					seen[s] = true
					queue = append(queue, s)
				}
			}
		}
		return seen
	}
	fromSubmitted := reach(StatusSubmitted)
	for s := range declared {
		if !fromSubmitted[s] {
			bad("state %s is not reachable from submitted", s)
		}
		ends := reach(s)
		if !ends[StatusActive] && !slices.ContainsFunc(slices.Collect(maps.Keys(ends)), Status.Terminal) {
			bad("state %s cannot reach an end (active or a terminal status)", s)
		}
	}

	// The form: placeholders make a valid request; a wrong value in any
	// field is refused on that field.
	valid := Input{}
	for _, f := range d.Fields() {
		if f.Name == "" || f.Label == "" || f.Placeholder == "" {
			bad("field %q needs a name, a label and a placeholder", f.Name)
		}
		if f.Type != InputRegion && f.MaxLength <= 0 {
			bad("field %s needs a MaxLength", f.Name)
		}
		valid[f.Name] = f.Placeholder
	}
	spec, _, err := d.Parse(maps.Clone(valid), &testCluster)
	if err != nil {
		bad("the placeholders are not a valid request: %v", err)
		return problems
	}
	for _, f := range d.Fields() {
		in := maps.Clone(valid)
		in[f.Name] = "!not-valid!"
		_, _, err := d.Parse(in, &testCluster)
		if e, ok := err.(*Error); !ok || e.Code != EInvalid || e.Fields[f.Name] == "" {
			bad("a wrong value gives no error on field %s: %v", f.Name, err)
		}
		if !f.Optional {
			in[f.Name] = ""
			if _, _, err := d.Parse(in, &testCluster); err == nil {
				bad("the required field %s may be left empty", f.Name)
			}
		}
	}
	if spec.Kind() != d.Kind() {
		bad("Parse returns a spec of kind %s", spec.Kind())
	}
	data, err := json.Marshal(spec)
	if err != nil {
		bad("encode the spec: %v", err)
	} else if back, err := d.DecodeSpec(data); err != nil || !reflect.DeepEqual(back, spec) {
		bad("the spec does not survive its JSON form: %v, %+v != %+v", err, back, spec)
	}

	// Messages in every state.
	for s := range declared {
		r := &Request{ID: 42, Kind: d.Kind(), Status: s, Spec: spec, Resource: res.Example,
			ExpiresAt: time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)}
		if len(d.Facts(r)) == 0 {
			bad("no facts for a request in %s", s)
		}
		if d.Next(r) == "" {
			bad("Next is empty in %s", s)
		}
		if ownerOf(d, s) == OwnerCustomer && d.Instructions(r, testCluster) == nil {
			bad("no instructions in %s, where the customer acts", s)
		}
	}
	return problems
}
