package astrobot

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Kind names a kind of connection request, such as VPC peering. It is stored
// with every request.
type Kind string

// KindDef is everything one kind of request declares: its names, its form and
// how the form is checked, the statuses it passes through between approved and
// active, the steps that move it there, and what the customer is told to do.
// Everything else (the envelope of a request, the transition mechanics, the
// outbox, lists, reminders, the store) is common to every kind.
//
// Each kind implements KindDef in a file of its own (peering.go) and is listed
// by Kinds. ARCHITECTURE.md says how to add one.
type KindDef interface {
	// Kind is the kind's stored name: "vpc_peering".
	Kind() Kind
	// Prefix starts the kind's request IDs: "PEER" for PEER-0042. Unique.
	Prefix() string
	// Slug is the kind's short name, typed after /astro-connect and used in
	// settings: "peering". Lower case letters only. Unique.
	Slug() string
	// Title names the kind for people: "VPC peering".
	Title() string
	// Choose says in one line when a customer should pick this kind.
	Choose() string
	// Intro is the first line of the kind's form, about cl, the cluster
	// chosen when the form opens (nil when none is).
	Intro(cl *Cluster) string

	// Fields lists the inputs of the kind's form, besides the cluster and
	// the note, which every form has.
	Fields() []Field
	// Parse checks what the customer typed and returns the spec of a new
	// request and any warnings. Problems come back as one *Error of code
	// EInvalid whose Fields name each field concerned. cl is the chosen
	// cluster, or nil when none is chosen yet.
	Parse(in Input, cl *Cluster) (Spec, []string, error)
	// DecodeSpec reads a spec back from its JSON form (json.Marshal of the
	// Spec that Parse returned).
	DecodeSpec(data []byte) (Spec, error)
	// Limit is how many open requests of the kind one cluster may have, and
	// why that many.
	Limit() (int, string)

	// States lists every status the kind uses after submitted, in the order
	// of its workflow, each with who acts next and what happens next.
	// Statuses it does not list are never reached by its requests.
	States() []State
	// Steps lists the kind's transitions: the steps from approved to active
	// and the failures on the way. The transitions every kind shares (claim,
	// approve, reject, cancel, retry, notes, reminders, alerts) are added to
	// them by Rules.
	Steps() []Rule
	// Resource describes the AWS resource that carries the connection once
	// made (a peering connection, an attachment): what support records in
	// manual mode.
	Resource() Resource

	// Next says what happens next for r, with the details of r: the static
	// sentence of its state, and what is known by now.
	Next(r *Request) string
	// Facts lists what a request of the kind asks for, for cards, lists and
	// status answers.
	Facts(r *Request) []Fact
	// Instructions tells the customer what to do about r now, every value
	// filled in: nil when they have nothing to do. cl is r's cluster.
	Instructions(r *Request, cl Cluster) *Instructions
}

// Kinds returns every kind of request astrobot handles, in the order
// /astro-connect offers them. A new kind is registered here.
func Kinds() []KindDef {
	return []KindDef{
		peeringKind{},
		privateLinkKind{},
		transitGatewayKind{},
		hostedZoneKind{},
	}
}

// KindOf returns the definition of kind k.
func KindOf(k Kind) (KindDef, bool) {
	for _, d := range Kinds() {
		if d.Kind() == k {
			return d, true
		}
	}
	return nil, false
}

// KindBySlug returns the kind whose slug is s, ignoring case.
func KindBySlug(s string) (KindDef, bool) {
	for _, d := range Kinds() {
		if strings.EqualFold(d.Slug(), s) {
			return d, true
		}
	}
	return nil, false
}

// ErrUnknownKind is the error for a kind astrobot does not know.
func ErrUnknownKind(k Kind) *Error {
	return Errorf(EInvalid, "astrobot does not know the request kind %s; it handles %s.", Quote(string(k)), kindList())
}

func kindList() string {
	var names []string
	for _, d := range Kinds() {
		names = append(names, d.Title())
	}
	return strings.Join(names, ", ")
}

// Spec is what the customer asks for in a request: the fields of its kind's
// form, checked. Its concrete type belongs to the kind, which also encodes it
// (as JSON) and decodes it (KindDef.DecodeSpec).
type Spec interface {
	// Kind is the kind the spec belongs to.
	Kind() Kind
	// Key identifies what the request connects the cluster to, in words: two
	// open requests of one kind on one cluster with the same key ask for the
	// same thing. "vpc-0abc12345678def90 in account 123456789012".
	Key() string
	// Routes returns the customer CIDRs the connection routes through the
	// cluster VPC. Open requests of every kind on one cluster may not route
	// overlapping CIDRs.
	Routes() []netip.Prefix
}

// InputType is how a form field is entered.
type InputType int

// Input types.
const (
	InputText   InputType = iota // one line of text
	InputLines                   // several lines of text
	InputRegion                  // a choice among Regions
)

// Field is one input of a kind's form.
type Field struct {
	Name        string // key of Input and of Error.Fields: "account"
	Label       string // "Your AWS account ID"
	Hint        string // a line under the input; may be empty
	Placeholder string // shown in an empty input; also a valid value
	Type        InputType
	MaxLength   int  // in characters, for text inputs
	Optional    bool // may be left empty
	Key         bool // holds what Spec.Key names: a second request for it is refused on this field
	Routes      bool // holds the CIDRs Spec.Routes returns: an overlap is refused on this field
}

// Input is what a customer typed into a form, by field name.
type Input map[string]string

// Fact is one thing a request asks for, as a card or a list shows it:
// a label and its values ("CIDRs": 10.20.0.0/16, 10.21.0.0/16).
type Fact struct {
	Label  string
	Values []string
}

// Instructions are what a customer does next, one step after another.
type Instructions struct {
	Title string // "Accept it in account 123456789012, region us-east-2"
	Steps []Step
}

// Step is one thing to do, in each of the ways it can be done. A placeholder
// the customer must fill in is written <like-this>.
type Step struct {
	Title     string   // what the step achieves
	Console   string   // the path in the AWS console, if there is one
	CLI       []string // AWS CLI commands, one per line, to run in order
	Terraform string   // the same in Terraform (HCL)
	Note      string   // anything else to know
}

// Resource describes the AWS resource a kind's requests are carried by, as
// support records it in manual mode.
type Resource struct {
	Label    string             // "Peering connection ID"
	Hint     string             // "The pcx-… ID of the peering you created from the Astro VPC."
	Example  string             // a valid ID
	Validate func(string) error // checks an ID support typed
}

// State is one status of a kind's workflow: who acts next and the sentence
// that tells everyone what happens next.
type State struct {
	Status Status
	Owner  Owner
	Next   string
	Cancel bool // the requester or support may cancel the request in it
}

// stateOf returns the state of status s in kind d: the kind's own
// declaration, or the common one of submitted, rejected and cancelled.
func stateOf(d KindDef, s Status) (State, bool) {
	switch s {
	case StatusSubmitted:
		return State{StatusSubmitted, OwnerSupport, "Support will review the request and approve or reject it.", true}, true
	case StatusRejected:
		return State{StatusRejected, OwnerNone, "Support rejected the request; nothing more will happen.", false}, true
	case StatusCancelled:
		return State{StatusCancelled, OwnerNone, "The request was cancelled; nothing more will happen.", false}, true
	}
	for _, st := range d.States() {
		if st.Status == s {
			return st, true
		}
	}
	return State{}, false
}

// Mode is how the Astro side of one kind is done.
type Mode string

// Modes.
const (
	ModeManual Mode = "manual" // support does it and records each step with the card's buttons
	ModeAWS    Mode = "aws"    // the bot does it in AWS
)

// RequestID is the number of a request. All kinds share one sequence; users
// see the number with its kind's prefix, as Request.Ref gives it.
type RequestID uint64

// FormatID returns the reference users see for request id of kind d:
// PEER-0042.
func FormatID(d KindDef, id RequestID) string {
	n := strconv.FormatUint(uint64(id), 10)
	if len(n) < 4 {
		n = "0000"[len(n):] + n
	}
	return d.Prefix() + "-" + n
}

// ParseRequestID parses a request reference as users type it: the ID with
// the prefix of any kind ("PEER-0042", "tgw-43") or a bare number ("42").
func ParseRequestID(s string) (RequestID, error) {
	t := strings.TrimSpace(s)
	if prefix, num, ok := strings.Cut(t, "-"); ok {
		if !slices.ContainsFunc(Kinds(), func(d KindDef) bool { return asciiEqualFold(d.Prefix(), prefix) }) {
			return 0, Errorf(EInvalid, "%s is not a request ID: they start with %s and look like %s.", Quote(s), prefixList(), FormatID(Kinds()[0], 42))
		}
		t = num
	}
	n, err := strconv.ParseUint(t, 10, 64)
	if err != nil || n == 0 {
		return 0, Errorf(EInvalid, "%s is not a request ID: they look like %s.", Quote(s), FormatID(Kinds()[0], 42))
	}
	return RequestID(n), nil
}

// asciiEqualFold reports whether a and b are equal ignoring the case of ASCII
// letters only: a Kelvin sign is not a K in a request ID.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range len(a) {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

func prefixList() string {
	var ps []string
	for _, d := range Kinds() {
		ps = append(ps, d.Prefix()+"-")
	}
	return strings.Join(ps, ", ")
}

// decodeSpec is DecodeSpec for the spec type T of a kind.
func decodeSpec[T Spec](data []byte) (Spec, error) {
	var s T
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("decode spec: %w", err)
	}
	return s, nil
}
