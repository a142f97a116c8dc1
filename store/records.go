package store

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/astrobot-dev/astrobot"
)

// requestRecord is how a request is written in the requests bucket. The ID is
// the key. Times are stored in UTC.
type requestRecord struct {
	Kind        string         `json:"kind"`
	Status      string         `json:"status"`
	UserID      string         `json:"user"`
	TeamID      string         `json:"team,omitempty"`
	ChannelID   string         `json:"channel,omitempty"`
	ClusterID   string         `json:"cluster"`
	AccountID   string         `json:"account"`
	Region      string         `json:"region"`
	VPCID       string         `json:"vpc"`
	CIDRs       []netip.Prefix `json:"cidrs"`
	Note        string         `json:"note,omitempty"`
	Warnings    []string       `json:"warnings,omitempty"`
	Assignee    string         `json:"assignee,omitempty"`
	PeeringID   string         `json:"peering_id,omitempty"`
	ExpiresAt   time.Time      `json:"expires_at,omitzero"`
	CreatedAt   time.Time      `json:"created_at"`
	UpdatedAt   time.Time      `json:"updated_at"`
	UpdatedBy   string         `json:"updated_by,omitempty"`
	RemindedAt  time.Time      `json:"reminded_at,omitzero"`
	Attempt     int            `json:"attempt,omitempty"`
	LastAlert   string         `json:"last_alert,omitempty"`
	CardChannel string         `json:"card_channel,omitempty"`
	CardTS      string         `json:"card_ts,omitempty"`
}

func encodeRequest(r *astrobot.Request) ([]byte, error) {
	return json.Marshal(requestRecord{
		Kind:        string(r.Kind),
		Status:      string(r.Status),
		UserID:      r.Requester.UserID,
		TeamID:      r.Requester.TeamID,
		ChannelID:   r.Requester.ChannelID,
		ClusterID:   r.ClusterID,
		AccountID:   r.Peer.AccountID,
		Region:      r.Peer.Region,
		VPCID:       r.Peer.VPCID,
		CIDRs:       r.Peer.CIDRs,
		Note:        r.Note,
		Warnings:    r.Warnings,
		Assignee:    r.Assignee,
		PeeringID:   r.PeeringID,
		ExpiresAt:   utc(r.ExpiresAt),
		CreatedAt:   utc(r.CreatedAt),
		UpdatedAt:   utc(r.UpdatedAt),
		UpdatedBy:   r.UpdatedBy,
		RemindedAt:  utc(r.RemindedAt),
		Attempt:     r.Attempt,
		LastAlert:   r.LastAlert,
		CardChannel: r.Card.Channel,
		CardTS:      r.Card.TS,
	})
}

func decodeRequest(id astrobot.RequestID, data []byte) (astrobot.Request, error) {
	var rec requestRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return astrobot.Request{}, fmt.Errorf("decode request %s: %w", id, err)
	}
	return astrobot.Request{
		ID:         id,
		Kind:       astrobot.Kind(rec.Kind),
		Status:     astrobot.Status(rec.Status),
		Requester:  astrobot.Requester{UserID: rec.UserID, TeamID: rec.TeamID, ChannelID: rec.ChannelID},
		ClusterID:  rec.ClusterID,
		Peer:       astrobot.Peer{AccountID: rec.AccountID, Region: rec.Region, VPCID: rec.VPCID, CIDRs: rec.CIDRs},
		Note:       rec.Note,
		Warnings:   rec.Warnings,
		Assignee:   rec.Assignee,
		PeeringID:  rec.PeeringID,
		ExpiresAt:  rec.ExpiresAt,
		CreatedAt:  rec.CreatedAt,
		UpdatedAt:  rec.UpdatedAt,
		UpdatedBy:  rec.UpdatedBy,
		RemindedAt: rec.RemindedAt,
		Attempt:    rec.Attempt,
		LastAlert:  rec.LastAlert,
		Card:       astrobot.MessageRef{Channel: rec.CardChannel, TS: rec.CardTS},
	}, nil
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

func encodeEvent(e *astrobot.Event) ([]byte, error) {
	return json.Marshal(eventRecord{At: utc(e.At), Actor: e.Actor, Action: string(e.Action),
		From: string(e.From), To: string(e.To), Note: e.Note})
}

func decodeEvent(id astrobot.RequestID, seq int, data []byte) (astrobot.Event, error) {
	var rec eventRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return astrobot.Event{}, fmt.Errorf("decode event %d of %s: %w", seq, id, err)
	}
	return astrobot.Event{Seq: seq, At: rec.At, Actor: rec.Actor, Action: astrobot.Action(rec.Action),
		From: astrobot.Status(rec.From), To: astrobot.Status(rec.To), Note: rec.Note}, nil
}

// outboxRecord is how a notification waits in the outbox bucket.
type outboxRecord struct {
	RequestID uint64    `json:"request"`
	Kind      string    `json:"kind"`
	Event     int       `json:"event"`
	CreatedAt time.Time `json:"created_at"`
	Attempts  int       `json:"attempts,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

func (rec *outboxRecord) notification() astrobot.Notification {
	return astrobot.Notification{RequestID: astrobot.RequestID(rec.RequestID),
		Kind: astrobot.NotificationKind(rec.Kind), Event: rec.Event}
}

func decodeOutbox(key uint64, data []byte) (outboxRecord, error) {
	var rec outboxRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return outboxRecord{}, fmt.Errorf("decode outbox entry %d: %w", key, err)
	}
	return rec, nil
}

// deadRecord is an outbox entry given up on, in the deadletter bucket.
type deadRecord struct {
	outboxRecord
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

// encodeOpen is the value of r's idx_open_cluster entry: what the conflict
// check of a new request needs, so that it reads no full record. Each string is
// one length byte and its bytes; then the CIDR count and, for each CIDR, four
// address bytes and the prefix length.
func encodeOpen(r *astrobot.Request) []byte {
	b := make([]byte, 0, 3+len(r.Status)+len(r.Peer.AccountID)+len(r.Peer.VPCID)+1+5*len(r.Peer.CIDRs))
	for _, s := range []string{string(r.Status), r.Peer.AccountID, r.Peer.VPCID} {
		b = append(append(b, byte(len(s))), s...)
	}
	b = append(b, byte(len(r.Peer.CIDRs)))
	for _, p := range r.Peer.CIDRs {
		a := p.Addr().As4()
		b = append(append(b, a[:]...), byte(p.Bits()))
	}
	return b
}

// decodeOpen reads an idx_open_cluster value back into a partial request: ID,
// cluster, status and peer.
func decodeOpen(id astrobot.RequestID, clusterID string, v []byte) (astrobot.Request, error) {
	bad := fmt.Errorf("decode open index entry of %s: corrupt value", id)
	var strs [3]string
	for i := range strs {
		if len(v) < 1 || len(v) < 1+int(v[0]) {
			return astrobot.Request{}, bad
		}
		strs[i], v = string(v[1:1+int(v[0])]), v[1+int(v[0]):]
	}
	if len(v) < 1 || len(v) != 1+5*int(v[0]) {
		return astrobot.Request{}, bad
	}
	cidrs := make([]netip.Prefix, v[0])
	for i := range cidrs {
		e := v[1+5*i : 6+5*i]
		cidrs[i] = netip.PrefixFrom(netip.AddrFrom4([4]byte(e[:4])), int(e[4]))
	}
	return astrobot.Request{ID: id, ClusterID: clusterID, Status: astrobot.Status(strs[0]),
		Peer: astrobot.Peer{AccountID: strs[1], VPCID: strs[2], CIDRs: cidrs}}, nil
}
