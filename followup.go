package astrobot

// FollowUpper is implemented by a kind that is offered as the next step of
// active requests of other kinds: a button on their direct messages and App
// Home entries that opens the kind's form with their cluster chosen.
type FollowUpper interface {
	// FollowUp returns the label of the button offered on r, an active
	// request of another kind, and whether to offer it.
	FollowUp(r *Request) (label string, ok bool)
}

// FollowUp is a kind offered as the next step of a request, and the label of
// its button.
type FollowUp struct {
	Kind  KindDef
	Label string
}

// FollowUps returns the kinds offered as next steps of r, in the order of
// Kinds: none unless r is active.
func FollowUps(r *Request) []FollowUp {
	if r.Status != StatusActive {
		return nil
	}
	var out []FollowUp
	for _, d := range Kinds() {
		f, ok := d.(FollowUpper)
		if !ok || d.Kind() == r.Kind {
			continue
		}
		if label, ok := f.FollowUp(r); ok {
			out = append(out, FollowUp{Kind: d, Label: label})
		}
	}
	return out
}
