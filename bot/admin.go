package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"net/url"

	"strconv"
	"time"

	"github.com/astrobot-dev/astrobot"
)

// AdminStore is what the admin commands read: the running bot's store, or the
// database file itself when the bot is stopped.
type AdminStore interface {
	RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error)
	History(ctx context.Context, id astrobot.RequestID) (astrobot.Request, []astrobot.Event, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
}

// adminRequest is a request as the admin endpoint sends it.
type adminRequest struct {
	ID         uint64         `json:"id"`
	Kind       string         `json:"kind"`
	Status     string         `json:"status"`
	User       string         `json:"user"`
	Team       string         `json:"team,omitempty"`
	Channel    string         `json:"channel,omitempty"`
	Cluster    string         `json:"cluster"`
	Account    string         `json:"account"`
	Region     string         `json:"region"`
	VPC        string         `json:"vpc"`
	CIDRs      []netip.Prefix `json:"cidrs"`
	Note       string         `json:"note,omitempty"`
	Warnings   []string       `json:"warnings,omitempty"`
	Assignee   string         `json:"assignee,omitempty"`
	PeeringID  string         `json:"peering_id,omitempty"`
	ExpiresAt  time.Time      `json:"expires_at,omitzero"`
	CreatedAt  time.Time      `json:"created_at"`
	UpdatedAt  time.Time      `json:"updated_at"`
	UpdatedBy  string         `json:"updated_by,omitempty"`
	RemindedAt time.Time      `json:"reminded_at,omitzero"`
	Attempt    int            `json:"attempt,omitempty"`
	LastAlert  string         `json:"last_alert,omitempty"`
	CardTS     string         `json:"card_ts,omitempty"`
	CardChan   string         `json:"card_channel,omitempty"`
	Events     []adminEvent   `json:"events,omitempty"`
}

type adminEvent struct {
	Seq    int       `json:"seq"`
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Note   string    `json:"note,omitempty"`
}

func toAdmin(r astrobot.Request, events []astrobot.Event) adminRequest {
	a := adminRequest{ID: uint64(r.ID), Kind: string(r.Kind), Status: string(r.Status), User: r.Requester.UserID,
		Team: r.Requester.TeamID, Channel: r.Requester.ChannelID, Cluster: r.ClusterID, Account: r.Peer.AccountID,
		Region: r.Peer.Region, VPC: r.Peer.VPCID, CIDRs: r.Peer.CIDRs, Note: r.Note, Warnings: r.Warnings,
		Assignee: r.Assignee, PeeringID: r.PeeringID, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt,
		UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy, RemindedAt: r.RemindedAt, Attempt: r.Attempt, LastAlert: r.LastAlert, CardTS: r.Card.TS, CardChan: r.Card.Channel}
	for _, e := range events {
		a.Events = append(a.Events, adminEvent{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: string(e.Action),
			From: string(e.From), To: string(e.To), Note: e.Note})
	}
	return a
}

func (a adminRequest) domain() (astrobot.Request, []astrobot.Event) {
	r := astrobot.Request{ID: astrobot.RequestID(a.ID), Kind: astrobot.Kind(a.Kind), Status: astrobot.Status(a.Status),
		Requester: astrobot.Requester{UserID: a.User, TeamID: a.Team, ChannelID: a.Channel}, ClusterID: a.Cluster,
		Peer: astrobot.Peer{AccountID: a.Account, Region: a.Region, VPCID: a.VPC, CIDRs: a.CIDRs},
		Note: a.Note, Warnings: a.Warnings, Assignee: a.Assignee, PeeringID: a.PeeringID, ExpiresAt: a.ExpiresAt,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, UpdatedBy: a.UpdatedBy, RemindedAt: a.RemindedAt, Attempt: a.Attempt, LastAlert: a.LastAlert,
		Card: astrobot.MessageRef{Channel: a.CardChan, TS: a.CardTS}}
	var events []astrobot.Event
	for _, e := range a.Events {
		events = append(events, astrobot.Event{Seq: e.Seq, At: e.At, Actor: e.Actor, Action: astrobot.Action(e.Action),
			From: astrobot.Status(e.From), To: astrobot.Status(e.To), Note: e.Note})
	}
	return r, events
}

// adminMux serves the admin endpoint of a running bot: the same reads the
// admin commands make on a stopped bot's file, and a consistent hot backup.
func adminMux(s AdminStore) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/requests", func(w http.ResponseWriter, r *http.Request) {
		statuses, limit, err := listQuery(r.URL.Query())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rs, err := s.RequestsByStatus(r.Context(), statuses, limit)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := make([]adminRequest, len(rs))
		for i, req := range rs {
			out[i] = toAdmin(req, nil)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("GET /admin/requests/{id}", func(w http.ResponseWriter, r *http.Request) {
		id, err := astrobot.ParseRequestID(r.PathValue("id"))
		if err != nil {
			http.Error(w, astrobot.ErrorMessageOf(err), http.StatusBadRequest)
			return
		}
		req, events, err := s.History(r.Context(), id)
		if astrobot.ErrorCodeOf(err) == astrobot.ENotFound {
			http.Error(w, astrobot.ErrorMessageOf(err), http.StatusNotFound)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(toAdmin(req, events))
	})
	mux.HandleFunc("GET /admin/backup", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		if _, err := s.Backup(r.Context(), w); err != nil {
			// Headers are gone; the client sees a short body and a broken stream.
			panic(http.ErrAbortHandler)
		}
	})
	return mux
}

// listQuery reads ?status=…&limit=… of a request list.
func listQuery(q url.Values) ([]astrobot.Status, int, error) {
	statuses := astrobot.Statuses()
	if ss := q["status"]; len(ss) > 0 {
		statuses = nil
		for _, s := range ss {
			if !astrobot.Status(s).Known() {
				return nil, 0, fmt.Errorf("unknown status %q: use one of %v", s, astrobot.Statuses())
			}
			statuses = append(statuses, astrobot.Status(s))
		}
	}
	limit := 0
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 0 {
			return nil, 0, fmt.Errorf("limit %q is not a count", l)
		}
		limit = n
	}
	return statuses, limit, nil
}

// AdminClient reads a running bot through its admin endpoint. It implements
// AdminStore.
type AdminClient struct {
	base string
	http *http.Client
}

// NewAdminClient returns a client of the admin endpoint at addr (host:port).
func NewAdminClient(addr string) *AdminClient {
	return &AdminClient{base: "http://" + addr, http: &http.Client{}}
}

func (c *AdminClient) get(ctx context.Context, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %w", c.base, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode == http.StatusNotFound {
			return nil, astrobot.Errorf(astrobot.ENotFound, "%s", string(msg))
		}
		return nil, fmt.Errorf("admin endpoint %s%s: %s: %s", c.base, path, resp.Status, msg)
	}
	return resp, nil
}

// RequestsByStatus lists requests of the given statuses, oldest first.
func (c *AdminClient) RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error) {
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	for _, s := range statuses {
		q.Add("status", string(s))
	}
	resp, err := c.get(ctx, "/admin/requests?"+q.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var rs []adminRequest
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		return nil, fmt.Errorf("admin endpoint: decode requests: %w", err)
	}
	out := make([]astrobot.Request, len(rs))
	for i, a := range rs {
		out[i], _ = a.domain()
	}
	return out, nil
}

// History returns one request with its events.
func (c *AdminClient) History(ctx context.Context, id astrobot.RequestID) (astrobot.Request, []astrobot.Event, error) {
	resp, err := c.get(ctx, "/admin/requests/"+strconv.FormatUint(uint64(id), 10))
	if err != nil {
		return astrobot.Request{}, nil, err
	}
	defer resp.Body.Close()
	var a adminRequest
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		return astrobot.Request{}, nil, fmt.Errorf("admin endpoint: decode request: %w", err)
	}
	r, events := a.domain()
	return r, events, nil
}

// Backup streams a consistent copy of the running bot's database to w.
func (c *AdminClient) Backup(ctx context.Context, w io.Writer) (int64, error) {
	resp, err := c.get(ctx, "/admin/backup")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return n, fmt.Errorf("admin endpoint: backup interrupted: %w", err)
	}
	return n, nil
}
