package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/store"
)

// AdminStore is what the admin commands read: the running bot's store, or the
// database file itself when the bot is stopped.
type AdminStore interface {
	RequestsByStatus(ctx context.Context, statuses []astrobot.Status, limit int) ([]astrobot.Request, error)
	History(ctx context.Context, id astrobot.RequestID) (astrobot.Request, []astrobot.Event, error)
	Backup(ctx context.Context, w io.Writer) (int64, error)
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
		out := make([]json.RawMessage, len(rs))
		for i, req := range rs {
			if out[i], err = store.MarshalRequest(req, nil); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
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
		data, err := store.MarshalRequest(req, events)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
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
	var rs []json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil {
		return nil, fmt.Errorf("admin endpoint: decode requests: %w", err)
	}
	out := make([]astrobot.Request, len(rs))
	for i, data := range rs {
		if out[i], _, err = store.UnmarshalRequest(data); err != nil {
			return nil, fmt.Errorf("admin endpoint: %w", err)
		}
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
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return astrobot.Request{}, nil, fmt.Errorf("admin endpoint: read request: %w", err)
	}
	r, events, err := store.UnmarshalRequest(data)
	if err != nil {
		return astrobot.Request{}, nil, fmt.Errorf("admin endpoint: %w", err)
	}
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
