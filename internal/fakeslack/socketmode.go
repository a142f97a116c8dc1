package fakeslack

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn is one Socket Mode websocket connection.
type wsConn struct {
	ws   *websocket.Conn
	wmu  sync.Mutex    // serializes data frames; gorilla allows one writer
	done chan struct{} // closed when the connection's reader ends
}

// writeJSON sends v as one text frame.
func (c *wsConn) writeJSON(v any) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.ws.WriteJSON(v)
}

// hello is the first message of every Socket Mode connection.
type hello struct {
	Type           string `json:"type"`
	NumConnections int    `json:"num_connections"`
	ConnectionInfo struct {
		AppID string `json:"app_id"`
	} `json:"connection_info"`
	DebugInfo struct {
		Host string `json:"host"`
	} `json:"debug_info"`
}

// envelope is a Socket Mode request sent to the app.
type envelope struct {
	EnvelopeID             string          `json:"envelope_id"`
	Type                   string          `json:"type"`
	Payload                json.RawMessage `json:"payload"`
	AcceptsResponsePayload bool            `json:"accepts_response_payload"`
	RetryAttempt           int             `json:"retry_attempt"`
	RetryReason            string          `json:"retry_reason"`
}

// disconnect asks the app to open a new connection.
type disconnect struct {
	Type      string `json:"type"`
	Reason    string `json:"reason"`
	DebugInfo struct {
		Host string `json:"host"`
	} `json:"debug_info"`
}

// ack is the app's answer to an envelope.
type ack struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
}

// serveSocket answers GET /ws?ticket=…: it upgrades to a websocket, sends
// hello, and makes the connection the one envelopes go to.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request) {
	ticket := r.URL.Query().Get("ticket")
	s.mu.Lock()
	valid := s.tickets[ticket]
	delete(s.tickets, ticket)
	s.mu.Unlock()
	if !valid {
		http.Error(w, "Unknown or used ticket: call apps.connections.open for a websocket URL.", http.StatusUnauthorized)
		return
	}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &wsConn{ws: ws, done: make(chan struct{})}
	h := hello{Type: "hello", NumConnections: 1}
	h.ConnectionInfo.AppID = AppID
	h.DebugInfo.Host = "fake"
	if err := c.writeJSON(h); err != nil {
		_ = ws.Close()
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = ws.Close()
		return
	}
	s.conns[c] = true
	s.conn = c
	s.notifyLocked()
	s.wg.Add(2)
	go s.readAcks(c)
	go s.ping(c)
}

// readAcks reads the app's messages on c and hands each ack to the
// SendEnvelope waiting for it, until the connection ends.
func (s *Server) readAcks(c *wsConn) {
	defer s.wg.Done()
	defer func() {
		close(c.done)
		_ = c.ws.Close()
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.conns, c)
		if s.conn == c {
			s.conn = nil
		}
		s.notifyLocked()
	}()
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		var a ack
		if err := json.Unmarshal(data, &a); err != nil || a.EnvelopeID == "" {
			continue
		}
		if bytes.Equal(a.Payload, []byte("null")) {
			a.Payload = nil
		}
		s.mu.Lock()
		waiter := s.pending[a.EnvelopeID]
		s.mu.Unlock()
		if waiter != nil {
			select {
			case waiter <- a.Payload:
			default: // a second ack of the same envelope
			}
		}
	}
}

// ping sends a websocket ping on c every ping interval, as Slack does.
func (s *Server) ping(c *wsConn) {
	defer s.wg.Done()
	t := time.NewTicker(s.pingInterval)
	defer t.Stop()
	for {
		select {
		case <-c.done:
			return
		case <-s.done:
			return
		case <-t.C:
			// A zero deadline means no deadline; Close unblocks a stuck write.
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Time{}); err != nil {
				return
			}
		}
	}
}

// SendEnvelope delivers a Socket Mode envelope of type envType ("slash_commands",
// "interactive" or "events_api") carrying payload, encoded with encoding/json,
// and returns the payload of the app's ack (nil when the ack has none).
// It waits for an app to connect, then for the ack, as long as ctx allows.
//
// Like Slack, it marks slash_commands and interactive envelopes as accepting a
// response payload, and events_api envelopes as not.
//
// The ack of a slash command, of a view_submission and of a block_suggestion
// is checked against Slack's rules (CheckCommandAck, CheckViewSubmissionAck,
// CheckOptionsAck): violations are recorded and, with WithTest, fail the test.
func (s *Server) SendEnvelope(ctx context.Context, envType string, payload any) (json.RawMessage, error) {
	raw, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("send envelope: %w", err)
	}
	c, err := s.waitConn(ctx)
	if err != nil {
		return nil, fmt.Errorf("send envelope: %w", err)
	}

	acked := make(chan json.RawMessage, 1)
	s.mu.Lock()
	id := fmt.Sprintf("env-%08d", s.nextLocked())
	s.pending[id] = acked
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
	}()

	env := envelope{EnvelopeID: id, Type: envType, Payload: raw, AcceptsResponsePayload: envType != "events_api"}
	if err := c.writeJSON(env); err != nil {
		return nil, fmt.Errorf("send envelope %s: %w", id, err)
	}
	select {
	case p := <-acked:
		s.checkAck(envType, raw, p)
		return p, nil
	case <-c.done:
		select {
		case p := <-acked:
			s.checkAck(envType, raw, p)
			return p, nil
		default:
			return nil, fmt.Errorf("send envelope %s: the Socket Mode connection closed before the app acked it", id)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("send envelope %s: waiting for the ack: %w", id, ctx.Err())
	}
}

// Disconnect waits for an app to connect, then sends it a disconnect message
// with reason (Slack sends "refresh_requested", "warning", "link_disabled"),
// which makes slack-go open a new connection. Envelopes sent after Disconnect
// returns go to the next connection.
func (s *Server) Disconnect(ctx context.Context, reason string) error {
	c, err := s.waitConn(ctx)
	if err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	d := disconnect{Type: "disconnect", Reason: reason}
	d.DebugInfo.Host = "fake"
	if err := c.writeJSON(d); err != nil {
		return fmt.Errorf("disconnect: %w", err)
	}
	return nil
}

// waitConn returns the connection envelopes go to, waiting for an app to
// connect when there is none.
func (s *Server) waitConn(ctx context.Context) (*wsConn, error) {
	for {
		s.mu.Lock()
		c, changed, closed := s.conn, s.changed, s.closed
		s.mu.Unlock()
		if closed {
			return nil, errClosed()
		}
		if c != nil {
			return c, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for an app to connect over Socket Mode: %w", ctx.Err())
		}
	}
}
