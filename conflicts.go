package astrobot

import (
	"fmt"
	"net/netip"
)

// Claim is what an open request holds on its cluster: the CIDRs it routes
// through the cluster VPC and the key of what it connects to. New requests are
// checked against the claims of the cluster's open requests of every kind.
type Claim struct {
	ID     RequestID
	Kind   Kind
	Status Status
	Key    string
	Routes []netip.Prefix
}

// Claim returns r's claim on its cluster.
func (r *Request) Claim() Claim {
	return Claim{ID: r.ID, Kind: r.Kind, Status: r.Status, Key: r.Spec.Key(), Routes: r.Spec.Routes()}
}

// ref returns the reference users see for the claim's request.
func (c Claim) ref() string {
	if d, ok := KindOf(c.Kind); ok {
		return FormatID(d, c.ID)
	}
	return fmt.Sprintf("%s-%04d", c.Kind, uint64(c.ID))
}

// CheckConflicts checks a new request r against the claims of the open
// requests on its cluster: r's kind allows at most Limit open requests on one
// cluster, the same thing (Spec.Key) may not be asked for twice, and the CIDRs
// r routes may not overlap those of another open request of any kind. Each
// error names the form field concerned (Field.Key, Field.Routes).
func CheckConflicts(r *Request, open []Claim) error {
	d := r.Def()
	keyField, routesField := FieldCluster, FieldCluster
	for _, f := range d.Fields() {
		if f.Key {
			keyField = f.Name
		}
		if f.Routes {
			routesField = f.Name
		}
	}
	limit, why := d.Limit()
	n := 0
	for _, o := range open {
		if o.Kind == r.Kind && o.ID != r.ID {
			n++
		}
	}
	if limit > 0 && n >= limit {
		msg := fmt.Sprintf("This cluster already has %d open or active %s requests, %s. Cancel the ones you no longer need, or ask support.", n, d.Title(), why)
		return &Error{Code: EConflict, Message: msg, Fields: map[string]string{FieldCluster: msg}}
	}
	key := r.Spec.Key()
	for _, o := range open {
		if o.ID == r.ID {
			continue
		}
		if o.Kind == r.Kind && o.Key == key {
			return &Error{Code: EConflict,
				Message: fmt.Sprintf("%s already asks for %s on this cluster (status %s): follow that one instead of filing it twice.", o.ref(), key, o.Status.Label()),
				Fields:  map[string]string{keyField: fmt.Sprintf("%s is already requested in %s (%s).", key, o.ref(), o.Status.Label())}}
		}
		for _, p := range r.Spec.Routes() {
			for _, q := range o.Routes {
				if p.Overlaps(q) {
					msg := fmt.Sprintf("%s overlaps %s, already routed to this cluster by %s (%s).", p, q, o.ref(), o.Status.Label())
					return &Error{Code: EConflict, Message: msg, Fields: map[string]string{routesField: msg}}
				}
			}
		}
	}
	return nil
}

// CheckClusterOverlap checks that none of cidrs overlaps the cluster's own VPC.
func CheckClusterOverlap(c Cluster, cidrs []netip.Prefix) error {
	for _, p := range cidrs {
		for _, q := range c.CIDRs {
			if p.Overlaps(q) {
				return Errorf(EInvalid, "%s overlaps %s, the VPC of cluster %s: connected networks need distinct ranges.", p, q, c.Name)
			}
		}
	}
	return nil
}
