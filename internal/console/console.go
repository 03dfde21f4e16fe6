// Package console is the server's operator API: JSON over HTTP on the
// console address, used by `tonearm ctl` (and any web front end). It turns
// operator requests into calls on internal/server and nothing else; it
// owns no protocol state.
//
// Operator actions (approval, pairing, unpairing) are the operator's
// alone (GUIDE.md section 5): on loopback the console trusts the local
// machine but checks the Host header (DNS rebinding) and cross-origin
// browser requests (CSRF); on any other address every request must carry
// the console token from the state directory.
package console

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// TokenFile is the file in the server's state directory that holds the
// console token (0600), for `tonearm ctl` on another address.
const TokenFile = "console.token"

// maxBody bounds a request body (bytes).
const maxBody = 64 << 10

// minPrefix is the shortest client-ID prefix accepted for a client.
const minPrefix = 4

// Config configures the console.
type Config struct {
	Server *server.Server
	Store  *store.Store
	// Name is the server's friendly name.
	Name string
	// Token authenticates requests; required when Loopback is false.
	Token string
	// Loopback is true when the console listens on loopback only: the
	// token is then optional (checked when given) and Host must name
	// the local machine.
	Loopback bool
	// Play starts playing a source named as on the command line (a path,
	// "tone", "-"); nil disables the play endpoint.
	Play func(src string) error
	// Source describes what is playing, for the status.
	Source func() string
	Log    *slog.Logger
}

// Console is the operator API handler.
type Console struct {
	cfg Config
	mux *http.ServeMux
	cop *http.CrossOriginProtection
}

// New returns the console handler.
func New(cfg Config) (*Console, error) {
	if cfg.Server == nil || cfg.Store == nil {
		return nil, errors.New("console: no server or store")
	}
	if !cfg.Loopback && len(cfg.Token) < 32 {
		return nil, errors.New("console: a console on a non-loopback address needs a token")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	c := &Console{cfg: cfg, mux: http.NewServeMux(), cop: http.NewCrossOriginProtection()}
	c.handle("GET /api/status", c.status)
	c.handle("GET /api/clients", c.clients)
	c.handle("POST /api/clients/{id}/approve", c.approve)
	c.handle("POST /api/clients/{id}/revoke", c.revoke)
	c.handle("POST /api/pair", c.pair)
	c.handle("POST /api/play", c.play)
	c.handle("POST /api/stop", c.stop)
	return c, nil
}

// apiError is an error with the HTTP status it answers with. Its message
// goes to the operator: it never carries a secret.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, a...)}
}

func (c *Console) handle(pattern string, h func(w http.ResponseWriter, r *http.Request) (any, error)) {
	c.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		v, err := h(w, r)
		if err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				c.cfg.Log.Warn("console request failed", "path", r.URL.Path, "err", err)
				ae = &apiError{status: http.StatusInternalServerError, msg: err.Error()}
			}
			writeJSON(w, ae.status, map[string]string{"error": ae.msg})
			return
		}
		if v == nil {
			v = map[string]bool{"ok": true}
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ServeHTTP checks the request's origin and credentials, then routes it.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := c.authorize(r); err != nil {
		ae := err.(*apiError)
		writeJSON(w, ae.status, map[string]string{"error": ae.msg})
		return
	}
	if err := c.cop.Check(r); err != nil {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "cross-origin request refused"})
		return
	}
	c.mux.ServeHTTP(w, r)
}

func (c *Console) authorize(r *http.Request) error {
	auth := r.Header.Get("Authorization")
	if auth != "" {
		tok, ok := strings.CutPrefix(auth, "Bearer ")
		if !ok || c.cfg.Token == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(c.cfg.Token)) != 1 {
			return errorf(http.StatusUnauthorized, "wrong console token")
		}
		return nil
	}
	if !c.cfg.Loopback {
		return errorf(http.StatusUnauthorized, "console token required (see %s in the server's state directory)", TokenFile)
	}
	// On loopback without a token, Host must name the local machine: a
	// web page elsewhere cannot rebind its own name to 127.0.0.1 and
	// drive the console.
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return errorf(http.StatusForbidden, "host %q is not the local machine", r.Host)
		}
	}
	return nil
}

// Status is GET /api/status.
type Status struct {
	Name    string `json:"name"`
	ID      string `json:"id"`
	Playing bool   `json:"playing"`
	Source  string `json:"source,omitempty"`
}

func (c *Console) status(http.ResponseWriter, *http.Request) (any, error) {
	st := Status{Name: c.cfg.Name, ID: c.cfg.Server.ID().String(), Playing: c.cfg.Server.Playing()}
	if st.Playing && c.cfg.Source != nil {
		st.Source = c.cfg.Source()
	}
	return st, nil
}

// Client is one entry of GET /api/clients: every connected client, plus
// the paired and approved ones that are not connected.
type Client struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"` // paired, approved, unapproved
	// NeedsRepairing is the credential-mismatch signal (pairing.md).
	NeedsRepairing bool     `json:"needs_repairing,omitempty"`
	Connected      bool     `json:"connected"`
	Available      bool     `json:"available,omitempty"`
	Activities     []string `json:"activities,omitempty"`
	Roles          []string `json:"roles,omitempty"`
	PairMethods    []string `json:"pair_methods,omitempty"`
}

// ClientList is GET /api/clients.
type ClientList struct {
	Clients []Client `json:"clients"`
}

func (c *Console) clients(http.ResponseWriter, *http.Request) (any, error) {
	list, err := c.list()
	return ClientList{Clients: list}, err
}

func (c *Console) list() ([]Client, error) {
	var out []Client
	seen := map[keys.PublicKey]bool{}
	for _, ci := range c.cfg.Server.Clients() {
		if seen[ci.ID] {
			continue // a client connected twice is listed once
		}
		seen[ci.ID] = true
		cl := Client{ID: ci.ID.String(), Name: ci.Name, Status: ci.Status.String(), NeedsRepairing: ci.Mismatch,
			Connected: true, Available: ci.Available}
		for _, a := range ci.Activities.Activities() {
			cl.Activities = append(cl.Activities, string(a))
		}
		for _, r := range ci.Roles {
			cl.Roles = append(cl.Roles, string(r))
		}
		for _, m := range ci.PairMethods {
			cl.PairMethods = append(cl.PairMethods, string(m))
		}
		out = append(out, cl)
	}
	paired, err := c.cfg.Store.PairedClients()
	if err != nil {
		return nil, err
	}
	approvals, err := c.cfg.Store.Approvals()
	if err != nil {
		return nil, err
	}
	names := map[keys.PublicKey]string{}
	for _, a := range approvals {
		names[a.Client] = a.Name
	}
	var offline []Client
	for _, id := range paired {
		if !seen[id] {
			seen[id] = true
			offline = append(offline, Client{ID: id.String(), Name: names[id], Status: server.StatusPaired.String()})
		}
	}
	for _, a := range approvals {
		if !seen[a.Client] {
			seen[a.Client] = true
			offline = append(offline, Client{ID: a.Client.String(), Name: a.Name, Status: server.StatusApproved.String()})
		}
	}
	sort.Slice(offline, func(i, j int) bool { return offline[i].ID < offline[j].ID })
	return append(out, offline...), nil
}

// resolve finds the client a path names: its full ID, or a unique prefix
// of at least minPrefix characters among the clients the console lists.
func (c *Console) resolve(r *http.Request) (keys.PublicKey, error) {
	arg := r.PathValue("id")
	if k, err := keys.ParsePublicKey(arg); err == nil {
		return k, nil
	}
	if len(arg) < minPrefix {
		return keys.PublicKey{}, errorf(http.StatusBadRequest, "client %q: give the client ID or at least %d of its first characters", arg, minPrefix)
	}
	list, err := c.list()
	if err != nil {
		return keys.PublicKey{}, err
	}
	var match []string
	for _, cl := range list {
		if strings.HasPrefix(cl.ID, arg) && !slices.Contains(match, cl.ID) {
			match = append(match, cl.ID)
		}
	}
	switch len(match) {
	case 0:
		return keys.PublicKey{}, errorf(http.StatusNotFound, "no known client has an ID starting %q", arg)
	case 1:
		return keys.ParsePublicKey(match[0])
	}
	return keys.PublicKey{}, errorf(http.StatusConflict, "%d clients have an ID starting %q; give more of it", len(match), arg)
}

// decode reads a JSON body into v; an empty body leaves v as it is.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "reading the request: %v", err)
	}
	if len(body) > maxBody {
		return errorf(http.StatusRequestEntityTooLarge, "request body over %d bytes", maxBody)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errorf(http.StatusBadRequest, "request body: %v", err)
	}
	return nil
}

// ApproveRequest is the body of POST /api/clients/{id}/approve.
type ApproveRequest struct {
	// Source approves the source role too (roles/source/v1.md).
	Source bool `json:"source"`
}

func (c *Console) approve(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	var req ApproveRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := c.cfg.Server.Approve(id, req.Source); err != nil {
		return nil, err
	}
	c.cfg.Log.Info("operator approved a client", "client", id.String(), "source", req.Source)
	return map[string]string{"approved": id.String()}, nil
}

func (c *Console) revoke(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	if err := c.cfg.Server.Revoke(id); err != nil {
		return nil, err
	}
	c.cfg.Log.Info("operator revoked a client's approval", "client", id.String())
	return map[string]string{"revoked": id.String()}, nil
}

// PairRequest is the body of POST /api/pair.
type PairRequest struct {
	// Token is the client's SP:0 pairing token (pairing.md "Pairing PSK
	// Flow"): it names the client itself.
	Token string `json:"token"`
}

func (c *Console) pair(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req PairRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Token == "" {
		return nil, errorf(http.StatusBadRequest, "give the client's pairing token")
	}
	id, err := c.cfg.Server.PairWithToken(strings.TrimSpace(req.Token))
	if err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	c.cfg.Log.Info("operator entered a pairing token", "client", id.String())
	return map[string]string{"pairing": id.String()}, nil
}

// PlayRequest is the body of POST /api/play.
type PlayRequest struct {
	Source string `json:"source"`
}

func (c *Console) play(_ http.ResponseWriter, r *http.Request) (any, error) {
	if c.cfg.Play == nil {
		return nil, errorf(http.StatusNotImplemented, "this server does not take sources from the console")
	}
	var req PlayRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if err := c.cfg.Play(req.Source); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	return map[string]string{"playing": req.Source}, nil
}

func (c *Console) stop(http.ResponseWriter, *http.Request) (any, error) {
	c.cfg.Server.Stop()
	return nil, nil
}
