package astrobot

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The helpers the tests of every kind share: the kind's definition, a form
// with fields changed, and the runners of the tables of Parse,
// CheckConflicts and the customer's messages.

// kindDef returns the definition of kind k.
func kindDef(t *testing.T, k Kind) KindDef {
	t.Helper()
	d, ok := KindOf(k)
	if !ok {
		t.Fatalf("no %s kind", k)
	}
	return d
}

// withFields returns a copy of in with fields set, given as name, value, name,
// value…
func withFields(in Input, kv ...string) Input {
	out := maps.Clone(in)
	for i := 0; i < len(kv); i += 2 {
		out[kv[i]] = kv[i+1]
	}
	return out
}

// parseCase is a row of a kind's Parse table: the form in, for the cluster
// cl (nil when none is chosen yet), is either refused on the field badField
// alone with a message containing badMsg, or parses to want with one
// warning containing warning (none when it is empty).
type parseCase struct {
	name     string
	in       Input
	cl       *Cluster
	want     Spec
	warning  string // a warning containing it; "" for none
	badField string // the field refused; "" for none
	badMsg   string
}

// checkParse runs each case of tests through d.Parse as a subtest; accepted
// runs, when given, the kind's own checks of a spec that parsed as wanted.
func checkParse(t *testing.T, d KindDef, tests []parseCase, accepted func(t *testing.T, tt parseCase, spec Spec)) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec, warnings, err := d.Parse(tt.in, tt.cl)
			if tt.badField != "" {
				e, ok := err.(*Error)
				if !ok || e.Code != EInvalid || !strings.Contains(e.Fields[tt.badField], tt.badMsg) {
					t.Fatalf("Parse = %#v, want field %s saying %q", err, tt.badField, tt.badMsg)
				}
				if len(e.Fields) != 1 {
					t.Errorf("Parse refused %v, want only %s", e.Fields, tt.badField)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !reflect.DeepEqual(spec, tt.want) {
				t.Errorf("spec %+v, want %+v", spec, tt.want)
			}
			if tt.warning == "" && len(warnings) > 0 || tt.warning != "" && (len(warnings) != 1 || !strings.Contains(warnings[0], tt.warning)) {
				t.Errorf("warnings %q, want one containing %q", warnings, tt.warning)
			}
			if accepted != nil {
				accepted(t, tt, spec)
			}
		})
	}
}

// conflictCase is a row of a kind's CheckConflicts table: with the claims
// open on the cluster, the request is accepted (msg empty) or refused as a
// conflict whose message starts with msg, with an error on field.
type conflictCase struct {
	name  string
	open  []Claim
	field string
	msg   string
}

// checkConflicts runs CheckConflicts of r against each case of tests as a
// subtest.
func checkConflicts(t *testing.T, r *Request, tests []conflictCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckConflicts(r, tt.open)
			if tt.msg == "" {
				if err != nil {
					t.Fatalf("CheckConflicts = %v, want nil", err)
				}
				return
			}
			e, ok := err.(*Error)
			if !ok || e.Code != EConflict || !strings.HasPrefix(e.Message, tt.msg) || e.Fields[tt.field] == "" {
				t.Fatalf("CheckConflicts = %#v, want %q on field %s", err, tt.msg, tt.field)
			}
		})
	}
}

// messageCase is a row of a kind's table of what the customer reads: a
// request with spec in status, with the resource and details, whose Next
// contains every one of next and whose instructions (none when noInstr)
// have exactly the CLI lines cli, in order (not checked when nil), and
// Terraform containing every one of terraform.
type messageCase struct {
	name      string
	status    Status
	spec      Spec
	resource  string
	details   map[string]string
	next      []string // in Next
	cli       []string // exactly the CLI lines, in order
	terraform []string // in the Terraform
	noInstr   bool
}

// checkMessages runs each case of tests, for a request of kind d on cl, as a
// subtest. unfilled reports a text of the instructions that leaves a
// placeholder the customer cannot fill in.
func checkMessages(t *testing.T, d KindDef, cl Cluster, tests []messageCase, unfilled func(text string) bool) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Request{ID: 1, Kind: d.Kind(), Status: tt.status, Spec: tt.spec, Resource: tt.resource, Details: tt.details}
			next := d.Next(r)
			for _, want := range tt.next {
				if !strings.Contains(next, want) {
					t.Errorf("Next lacks %q: %s", want, next)
				}
			}
			in := d.Instructions(r, cl)
			if tt.noInstr {
				if in != nil {
					t.Errorf("Instructions = %+v, want none", in)
				}
				return
			}
			if in == nil {
				t.Fatal("no instructions")
			}
			var cli []string
			var tf string
			for _, s := range in.Steps {
				cli = append(cli, s.CLI...)
				tf += s.Terraform + "\n"
				for _, text := range append([]string{s.Title, s.Console, s.Terraform, s.Note}, s.CLI...) {
					if unfilled(text) {
						t.Errorf("a placeholder is left in %q", text)
					}
				}
			}
			if tt.cli != nil && !slices.Equal(cli, tt.cli) {
				t.Errorf("CLI lines\n%s\nwant\n%s", strings.Join(cli, "\n"), strings.Join(tt.cli, "\n"))
			}
			for _, want := range tt.terraform {
				if !strings.Contains(tf, want) {
					t.Errorf("Terraform lacks %q:\n%s", want, tf)
				}
			}
		})
	}
}
