package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/astrobot-dev/astrobot"
)

// requestRecord is how a request is written in the requests bucket, and, with
// its ID and events, its wire form (MarshalRequest). The spec is the JSON its
// kind encodes (astrobot.KindDef.DecodeSpec reads it back). Times are in UTC.
type requestRecord struct {
	ID          uint64            `json:"id,omitempty"` // wire form only: in the bucket the ID is the key
	Kind        string            `json:"kind"`
	Status      string            `json:"status"`
	UserID      string            `json:"user"`
	TeamID      string            `json:"team,omitempty"`
	ChannelID   string            `json:"channel,omitempty"`
	ClusterID   string            `json:"cluster"`
	Spec        json.RawMessage   `json:"spec"`
	Note        string            `json:"note,omitempty"`
	Warnings    []string          `json:"warnings,omitempty"`
	Assignee    string            `json:"assignee,omitempty"`
	Resource    string            `json:"resource,omitempty"`
	ExpiresAt   time.Time         `json:"expires_at,omitzero"`
	Details     map[string]string `json:"details,omitempty"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
	UpdatedBy   string            `json:"updated_by,omitempty"`
	RemindedAt  time.Time         `json:"reminded_at,omitzero"`
	Attempt     int               `json:"attempt,omitempty"`
	LastAlert   string            `json:"last_alert,omitempty"`
	CardChannel string            `json:"card_channel,omitempty"`
	CardTS      string            `json:"card_ts,omitempty"`
	Events      []wireEvent       `json:"events,omitempty"` // wire form only
}

// wireEvent is an event in the wire form of a request.
type wireEvent struct {
	Seq int `json:"seq"`
	eventRecord
}

func toRecord(r *astrobot.Request) (requestRecord, error) {
	if r.Spec == nil {
		return requestRecord{}, fmt.Errorf("request %d has no spec", r.ID)
	}
	spec, err := json.Marshal(r.Spec)
	if err != nil {
		return requestRecord{}, fmt.Errorf("encode the spec of request %d: %w", r.ID, err)
	}
	return requestRecord{
		Kind:        string(r.Kind),
		Status:      string(r.Status),
		UserID:      r.Requester.UserID,
		TeamID:      r.Requester.TeamID,
		ChannelID:   r.Requester.ChannelID,
		ClusterID:   r.ClusterID,
		Spec:        spec,
		Note:        r.Note,
		Warnings:    r.Warnings,
		Assignee:    r.Assignee,
		Resource:    r.Resource,
		ExpiresAt:   utc(r.ExpiresAt),
		Details:     r.Details,
		CreatedAt:   utc(r.CreatedAt),
		UpdatedAt:   utc(r.UpdatedAt),
		UpdatedBy:   r.UpdatedBy,
		RemindedAt:  utc(r.RemindedAt),
		Attempt:     r.Attempt,
		LastAlert:   r.LastAlert,
		CardChannel: r.Card.Channel,
		CardTS:      r.Card.TS,
	}, nil
}

func (rec *requestRecord) request(id astrobot.RequestID) (astrobot.Request, error) {
	d, ok := astrobot.KindOf(astrobot.Kind(rec.Kind))
	if !ok {
		return astrobot.Request{}, fmt.Errorf("request %d is of the kind %q, which this astrobot does not know", id, rec.Kind)
	}
	spec, err := d.DecodeSpec(rec.Spec)
	if err != nil {
		return astrobot.Request{}, fmt.Errorf("request %d: %w", id, err)
	}
	return astrobot.Request{
		ID:         id,
		Kind:       d.Kind(),
		Status:     astrobot.Status(rec.Status),
		Requester:  astrobot.Requester{UserID: rec.UserID, TeamID: rec.TeamID, ChannelID: rec.ChannelID},
		ClusterID:  rec.ClusterID,
		Spec:       spec,
		Note:       rec.Note,
		Warnings:   rec.Warnings,
		Assignee:   rec.Assignee,
		Resource:   rec.Resource,
		ExpiresAt:  rec.ExpiresAt,
		Details:    rec.Details,
		CreatedAt:  rec.CreatedAt,
		UpdatedAt:  rec.UpdatedAt,
		UpdatedBy:  rec.UpdatedBy,
		RemindedAt: rec.RemindedAt,
		Attempt:    rec.Attempt,
		LastAlert:  rec.LastAlert,
		Card:       astrobot.MessageRef{Channel: rec.CardChannel, TS: rec.CardTS},
	}, nil
}

func encodeRequest(r *astrobot.Request) ([]byte, error) {
	rec, err := toRecord(r)
	if err != nil {
		return nil, err
	}
	return json.Marshal(rec)
}

func decodeRequest(id astrobot.RequestID, data []byte) (astrobot.Request, error) {
	var rec requestRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return astrobot.Request{}, fmt.Errorf("decode request %d: %w", id, err)
	}
	return rec.request(id)
}

// MarshalRequest returns the wire form of r and its events: the JSON record
// the store keeps, with the ID and the events. The admin endpoint sends it;
// UnmarshalRequest reads it back.
func MarshalRequest(r astrobot.Request, events []astrobot.Event) ([]byte, error) {
	rec, err := toRecord(&r)
	if err != nil {
		return nil, err
	}
	rec.ID = uint64(r.ID)
	for _, e := range events {
		rec.Events = append(rec.Events, wireEvent{Seq: e.Seq, eventRecord: toEventRecord(&e)})
	}
	return json.Marshal(rec)
}

// UnmarshalRequest reads the wire form of a request and its events.
func UnmarshalRequest(data []byte) (astrobot.Request, []astrobot.Event, error) {
	var rec requestRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return astrobot.Request{}, nil, fmt.Errorf("decode request: %w", err)
	}
	if rec.ID == 0 {
		return astrobot.Request{}, nil, errors.New("decode request: no ID")
	}
	r, err := rec.request(astrobot.RequestID(rec.ID))
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	var events []astrobot.Event
	for _, e := range rec.Events {
		events = append(events, e.event(e.Seq))
	}
	return r, events, nil
}

// eventRecord is how an event is written in the events bucket. The request ID
// and the sequence number are the key.
type eventRecord struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Note   string    `json:"note,omitempty"`
}

func toEventRecord(e *astrobot.Event) eventRecord {
	return eventRecord{At: utc(e.At), Actor: e.Actor, Action: string(e.Action), From: string(e.From), To: string(e.To), Note: e.Note}
}

func (rec *eventRecord) event(seq int) astrobot.Event {
	return astrobot.Event{Seq: seq, At: rec.At, Actor: rec.Actor, Action: astrobot.Action(rec.Action),
		From: astrobot.Status(rec.From), To: astrobot.Status(rec.To), Note: rec.Note}
}

func encodeEvent(e *astrobot.Event) ([]byte, error) { return json.Marshal(toEventRecord(e)) }

func decodeEvent(id astrobot.RequestID, seq int, data []byte) (astrobot.Event, error) {
	var rec eventRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return astrobot.Event{}, fmt.Errorf("decode event %d of %d: %w", seq, id, err)
	}
	return rec.event(seq), nil
}

// queueRecord is how an entry waits in a queue bucket (outbox, jobs).
type queueRecord struct {
	RequestID uint64    `json:"request"`
	Kind      string    `json:"kind"`
	Event     int       `json:"event"`
	CreatedAt time.Time `json:"created_at"`
	Attempts  int       `json:"attempts,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	Claimed   bool      `json:"claimed,omitempty"` // a worker took it once: it may have been done
}

func decodeQueue(bucket string, key uint64, data []byte) (queueRecord, error) {
	var rec queueRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return queueRecord{}, fmt.Errorf("decode %s entry %d: %w", bucket, key, err)
	}
	return rec, nil
}

// deadRecord is a queue entry given up on, in a dead-letter bucket.
type deadRecord struct {
	queueRecord
	Reason string    `json:"reason"`
	DeadAt time.Time `json:"dead_at"`
}

// clusterRecord is how a cluster is cached in the clusters bucket.
type clusterRecord struct {
	ID           string         `json:"id"`
	Name         string         `json:"name"`
	Organization string         `json:"organization"`
	Region       string         `json:"region"`
	AccountID    string         `json:"account"`
	VPCID        string         `json:"vpc"`
	CIDRs        []netip.Prefix `json:"cidrs"`
	ExternalIPs  []netip.Addr   `json:"external_ips"`
}

func encodeCluster(c *astrobot.Cluster) ([]byte, error) {
	return json.Marshal(clusterRecord{ID: c.ID, Name: c.Name, Organization: c.Organization, Region: c.Region,
		AccountID: c.AccountID, VPCID: c.VPCID, CIDRs: c.CIDRs, ExternalIPs: c.ExternalIPs})
}

func decodeCluster(data []byte) (astrobot.Cluster, error) {
	var rec clusterRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return astrobot.Cluster{}, fmt.Errorf("decode cluster: %w", err)
	}
	return astrobot.Cluster{ID: rec.ID, Name: rec.Name, Organization: rec.Organization, Region: rec.Region,
		AccountID: rec.AccountID, VPCID: rec.VPCID, CIDRs: rec.CIDRs, ExternalIPs: rec.ExternalIPs}, nil
}

// utc returns t in UTC, and the zero time unchanged.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// u64 returns v as 8 big-endian bytes.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

// indexKey returns name + 0x00 + id.
func indexKey(name string, id astrobot.RequestID) []byte {
	k := make([]byte, 0, len(name)+9)
	k = append(k, name...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, uint64(id))
}

// indexPrefix returns name + 0x00, the prefix of every index key of name.
func indexPrefix(name string) []byte { return append([]byte(name), 0) }

// indexID returns the request ID at the end of an index key.
func indexID(k []byte) astrobot.RequestID {
	return astrobot.RequestID(binary.BigEndian.Uint64(k[len(k)-8:]))
}

// eventKey returns id + seq as 12 big-endian bytes.
func eventKey(id astrobot.RequestID, seq int) []byte {
	k := binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(id))
	return binary.BigEndian.AppendUint32(k, uint32(seq))
}

// prefixEnd returns the smallest key greater than every key that starts with
// p, or nil when there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// encodeClaim is the value of an idx_open_cluster entry: the request's claim
// on its cluster, so that the conflict check of a new request reads no full
// record. The kind, status and key are each a uvarint length and the bytes;
// then the CIDR count and, for each CIDR, four address bytes and the prefix
// length.
func encodeClaim(c astrobot.Claim) []byte {
	b := make([]byte, 0, 8+len(c.Kind)+len(c.Status)+len(c.Key)+5*len(c.Routes))
	for _, s := range []string{string(c.Kind), string(c.Status), c.Key} {
		b = append(binary.AppendUvarint(b, uint64(len(s))), s...)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Routes)))
	for _, p := range c.Routes {
		a := p.Addr().As4()
		b = append(append(b, a[:]...), byte(p.Bits()))
	}
	return b
}

// decodeClaim reads an idx_open_cluster value back.
func decodeClaim(id astrobot.RequestID, v []byte) (astrobot.Claim, error) {
	bad := fmt.Errorf("decode the open index entry of %d: corrupt value", id)
	var strs [3]string
	for i := range strs {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return astrobot.Claim{}, bad
		}
		strs[i], v = string(v[w:w+int(n)]), v[w+int(n):]
	}
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) != 5*n {
		return astrobot.Claim{}, bad
	}
	v = v[w:]
	routes := make([]netip.Prefix, n)
	for i := range routes {
		e := v[5*i : 5*i+5]
		routes[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte(e[:4])), int(e[4]))
	}
	return astrobot.Claim{ID: id, Kind: astrobot.Kind(strs[0]), Status: astrobot.Status(strs[1]), Key: strs[2], Routes: routes}, nil
}
