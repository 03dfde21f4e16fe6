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
	"embed"
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
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

//go:embed ui
var uiFiles embed.FS

// servePage serves the console's page under a strict content policy:
// scripts and styles from the page's own origin only, no framing.
func (c *Console) servePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "+
		"img-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	name := strings.TrimPrefix(r.URL.Path, "/")
	switch name {
	case "":
		name = "ui/index.html"
	case "ui/console.js", "ui/console.css":
	default:
		http.NotFound(w, r)
		return
	}
	b, err := uiFiles.ReadFile(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	switch {
	case strings.HasSuffix(name, ".html"):
		h.Set("Content-Type", "text/html; charset=utf-8")
	case strings.HasSuffix(name, ".js"):
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case strings.HasSuffix(name, ".css"):
		h.Set("Content-Type", "text/css; charset=utf-8")
	}
	_, _ = w.Write(b)
}

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
	// "tone", "-") to a group; nil disables the play endpoints.
	Play func(group, src string) error
	// Source describes what a group plays, for the status.
	Source func(group string) string
	Log    *slog.Logger
}

// Console is the operator API handler.
type Console struct {
	cfg Config
	mux *http.ServeMux
	cop *http.CrossOriginProtection
	ev  *eventHub
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
	c.handle("GET /api/clients/{id}", c.client)
	c.handle("POST /api/clients/{id}/pair", c.pairClient)
	c.handle("POST /api/clients/{id}/code", c.code)
	c.handle("POST /api/clients/{id}/cancel", c.cancel)
	c.handle("POST /api/clients/{id}/unpair", c.unpair)
	c.handle("POST /api/clients/{id}/join", c.join)
	c.handle("POST /api/clients/{id}/leave", c.leave)
	c.handle("GET /api/groups", c.groups)
	c.handle("POST /api/play", c.play)
	c.handle("POST /api/stop", c.stop)
	c.handle("POST /api/next", c.next)
	c.handle("POST /api/volume", c.volume)
	c.handle("GET /api/refusals", c.refusals)
	c.handle("POST /api/groups", c.createGroup)
	c.handle("POST /api/groups/{id}/rename", c.renameGroup)
	c.ev = newEventHub(c)
	c.mux.HandleFunc("GET /api/events", c.events)
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

// ServeHTTP serves the page, or checks an API request's origin and
// credentials and routes it.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/api/") {
		// The page holds no data and no secret: it loads without the
		// token and asks for it when the API does.
		c.servePage(w, r)
		return
	}
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
	// NowPlaying is the default group's track.
	NowPlaying
}

func (c *Console) status(http.ResponseWriter, *http.Request) (any, error) {
	st := Status{Name: c.cfg.Name, ID: c.cfg.Server.ID().String(), Playing: c.cfg.Server.Playing()}
	if st.Playing && c.cfg.Source != nil {
		st.Source = c.cfg.Source(server.DefaultGroup)
	}
	st.NowPlaying = c.nowPlaying(server.DefaultGroup, st.Source)
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
	// Pairing is the client's pairing attempt, or how the last one
	// ended; absent when there was none.
	Pairing *Pairing `json:"pairing,omitempty"`
	// Group and GroupName are the client's group, if the server has
	// seen it since it started.
	Group     string `json:"group,omitempty"`
	GroupName string `json:"group_name,omitempty"`
	// LastSeen is when an offline client's last connection ended
	// (RFC 3339), absent when unknown; Note says why it is offline when
	// the server knows more than that (its goodbye, an unpairing).
	LastSeen string `json:"last_seen,omitempty"`
	Note     string `json:"note,omitempty"`
}

// Pairing is a client's pairing state.
type Pairing struct {
	// Phase: none, starting, held back, waiting for code, verifying.
	Phase      string `json:"phase"`
	Method     string `json:"method,omitempty"`
	Format     string `json:"format,omitempty"`
	Round      uint32 `json:"round,omitempty"`
	WrongCodes int    `json:"wrong_codes,omitempty"`
	// Message is the device's own text while it holds the attempt back:
	// show it as plain text, attributed to the device.
	Message string `json:"message,omitempty"`
	// Last is how the previous attempt ended.
	Last string `json:"last,omitempty"`
	// Attempt is the number of the operator's request this state belongs
	// to (the pair answers give it); Done is set once it ended, OK when
	// it paired.
	Attempt uint64 `json:"attempt,omitempty"`
	Done    bool   `json:"done,omitempty"`
	OK      bool   `json:"ok,omitempty"`
	// Text is the server's sentence for the state or the outcome: what
	// ctl prints and the page shows.
	Text string `json:"text"`
}

// pairingOf is the client's pairing state for the API; name is the
// client's name as listed ("" when not known: the attempt's then).
func pairingOf(ps server.PairingState, name string, id keys.PublicKey) *Pairing {
	if ps == (server.PairingState{}) {
		return nil
	}
	if name == "" {
		name = ps.Name
	}
	return &Pairing{Phase: ps.Phase.String(), Method: string(ps.Method), Format: string(ps.Format), Round: ps.Round,
		WrongCodes: ps.WrongCodes, Message: ps.Message, Last: ps.Last.String(), Attempt: ps.Attempt,
		Done: ps.Done(), OK: ps.Done() && ps.Last == server.OutcomePaired, Text: ps.Text(who(name, id.String()))}
}

// groupWho names a group for the operator: its name and ID.
func groupWho(g server.GroupInfo) string { return fmt.Sprintf("%s (%s)", g.Name, g.ID) }

// volumeText says what a volume request set, of whom.
func volumeText(whom string, req VolumeRequest) string {
	var parts []string
	if req.Volume != nil {
		parts = append(parts, fmt.Sprintf("volume of %s set to %d", whom, *req.Volume))
	}
	if req.Muted != nil {
		state := "unmuted"
		if *req.Muted {
			state = "muted"
		}
		if len(parts) > 0 {
			parts = append(parts, state)
		} else {
			parts = append(parts, whom+" "+state)
		}
	}
	return strings.Join(parts, ", ")
}

// shortID is the first characters of a client ID, as people read it.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// who names a client for the operator: its name and short ID, or the
// short ID alone.
func who(name, id string) string {
	if name == "" {
		return shortID(id)
	}
	return fmt.Sprintf("%s (%s)", name, shortID(id))
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
		cl.Pairing = pairingOf(ci.Pairing, ci.Name, ci.ID)
		cl.Group, cl.GroupName = ci.Group.ID, ci.Group.Name
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
	notes, err := c.cfg.Store.ClientNotes()
	if err != nil {
		return nil, err
	}
	hist := c.cfg.Server.Histories()
	var offline []Client
	for _, id := range paired {
		if !seen[id] {
			seen[id] = true
			// Its last connection's credential mismatch stands until it
			// connects again: a client that lost its record does not
			// become plainly paired by going offline.
			offline = append(offline, Client{ID: id.String(), Name: names[id], Status: server.StatusPaired.String(),
				NeedsRepairing: hist[id].Mismatch, Pairing: pairingOf(c.cfg.Server.PairingState(id), names[id], id)})
		}
	}
	for _, a := range approvals {
		if !seen[a.Client] {
			seen[a.Client] = true
			offline = append(offline, Client{ID: a.Client.String(), Name: a.Name, Status: server.StatusApproved.String(),
				Pairing: pairingOf(c.cfg.Server.PairingState(a.Client), a.Name, a.Client)})
		}
	}
	// Clients that left in a way that keeps them from coming back by
	// themselves stay listed for this run (unpaired by the operator,
	// disconnected by their owner...), so the operator can find them.
	for id, h := range hist {
		if !seen[id] && h.Lingers() {
			seen[id] = true
			offline = append(offline, Client{ID: id.String(), Status: server.StatusUnapproved.String(),
				Pairing: pairingOf(c.cfg.Server.PairingState(id), h.Name, id)})
		}
	}
	groups := c.cfg.Server.GroupsByClient()
	for i := range offline {
		k, err := keys.ParsePublicKey(offline[i].ID)
		if err != nil {
			continue
		}
		if g, ok := groups[k]; ok {
			offline[i].Group, offline[i].GroupName = g.ID, g.Name
		}
		n, h := notes[k], hist[k]
		if offline[i].Name == "" {
			offline[i].Name = n.Name
		}
		if offline[i].Name == "" {
			offline[i].Name = h.Name
		}
		last := n.LastSeen
		if h.LastSeen.After(last) {
			last = h.LastSeen
		}
		if !last.IsZero() {
			offline[i].LastSeen = last.Format(time.RFC3339)
		}
		offline[i].Note = h.Note()
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
	return map[string]string{"approved": id.String(), "message": c.approvedText(id)}, nil
}

// approvedText says what an approval does for the client now: approval
// gives access only to a client that admits unpaired access (pairing.md
// "Unpaired Access"), so one that does not is told apart.
func (c *Console) approvedText(id keys.PublicKey) string {
	ci, connected := c.connected(id)
	name := who(ci.Name, id.String())
	switch {
	case !connected:
		return fmt.Sprintf("approved %s; it is not connected: the approval applies when it connects", who(c.nameOf(id), id.String()))
	case ci.Status == server.StatusPaired:
		return fmt.Sprintf("approved %s; it is paired, which already gives it access", name)
	case !ci.UnpairedAccess:
		return fmt.Sprintf("approved %s, but it does not allow unpaired access, so it will not play: its owner can allow it (tonearm player unpaired-access on), or pair it instead", name)
	}
	return fmt.Sprintf("approved %s", name)
}

// connected returns the client's connected entry, if it is connected.
func (c *Console) connected(id keys.PublicKey) (server.ClientInfo, bool) {
	for _, ci := range c.cfg.Server.Clients() {
		if ci.ID == id {
			return ci, true
		}
	}
	return server.ClientInfo{}, false
}

// nameOf is the client's name as the console lists it, or "".
func (c *Console) nameOf(id keys.PublicKey) string {
	list, err := c.list()
	if err != nil {
		return ""
	}
	for _, cl := range list {
		if cl.ID == id.String() {
			return cl.Name
		}
	}
	return ""
}

func (c *Console) revoke(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	name := who(c.nameOf(id), id.String())
	if err := c.cfg.Server.Revoke(id); err != nil {
		if errors.Is(err, server.ErrNotApproved) {
			return nil, errorf(http.StatusConflict, "%s: %s", name, operatorText(err))
		}
		return nil, err
	}
	c.cfg.Log.Info("operator revoked a client's approval", "client", id.String())
	return map[string]string{"revoked": id.String(), "message": "revoked the approval of " + name}, nil
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
	return c.pairByToken(strings.TrimSpace(req.Token))
}

// pairByToken hands the token to the server; the answer names the
// attempt, whose outcome GET /api/clients/{id} then tells.
func (c *Console) pairByToken(tok string) (any, error) {
	id, err := c.cfg.Server.PairWithToken(tok)
	if err != nil {
		return nil, pairError(err)
	}
	c.cfg.Log.Info("operator entered a pairing token", "client", id.String())
	return c.pairingReply(id), nil
}

func (c *Console) client(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	list, err := c.list()
	if err != nil {
		return nil, err
	}
	for _, cl := range list {
		if cl.ID == id.String() {
			return cl, nil
		}
	}
	// Known only by a pairing that just ended (its connection is gone),
	// or by a token waiting for it to connect.
	if p := pairingOf(c.cfg.Server.PairingState(id), "", id); p != nil {
		return Client{ID: id.String(), Status: server.StatusUnapproved.String(), Pairing: p}, nil
	}
	return nil, errorf(http.StatusNotFound, "client %s is not known", id)
}

// ClientPairRequest is the body of POST /api/clients/{id}/pair: a token,
// or a code method (pairing.md): "dynamic_pairing_code" (format "digits"
// or "qr_code"), "static_pairing_code" (with the code up front if the
// operator has it), or neither for whichever the client offers.
type ClientPairRequest struct {
	Token  string `json:"token,omitempty"`
	Method string `json:"method,omitempty"`
	Format string `json:"format,omitempty"`
	Code   string `json:"code,omitempty"`
}

func (c *Console) pairClient(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	var req ClientPairRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Token != "" {
		if req.Method != "" || req.Code != "" || req.Format != "" {
			return nil, errorf(http.StatusBadRequest, "give a token or a code method, not both")
		}
		tok := strings.TrimSpace(req.Token)
		if t, err := pairing.ParsePSKToken(tok); err == nil && t.ClientKey != id {
			return nil, errorf(http.StatusBadRequest, "the token belongs to client %s, not %s", t.ClientKey, id)
		}
		return c.pairByToken(tok)
	}
	pr := server.PairRequest{Client: id, Method: wire.PairMethod(req.Method), Format: wire.CodeFormat(req.Format), StaticCode: req.Code}
	if req.Code != "" && pr.Method == "" {
		pr.Method = wire.MethodStaticCode
	}
	if err := c.cfg.Server.StartPairing(pr); err != nil {
		return nil, pairError(err)
	}
	c.cfg.Log.Info("operator started pairing", "client", id.String(), "method", pr.Method)
	return c.pairingReply(id), nil
}

// PairingReply is the answer of the pairing actions (pair, code): the
// client, its attempt as it stands, and that state's text as the message.
type PairingReply struct {
	Pairing string   `json:"pairing"`
	Attempt uint64   `json:"attempt"`
	State   *Pairing `json:"state"`
	Message string   `json:"message"`
}

func (c *Console) pairingReply(id keys.PublicKey) PairingReply {
	p := pairingOf(c.cfg.Server.PairingState(id), c.nameOf(id), id)
	r := PairingReply{Pairing: id.String(), State: p}
	if p != nil {
		r.Attempt, r.Message = p.Attempt, p.Text
	}
	return r
}

// CodeRequest is the body of POST /api/clients/{id}/code: the code the
// client shows (dynamic: 6 digits, or the SP:1 text of its QR code) or
// its static code; spaces and dashes are ignored.
type CodeRequest struct {
	Code string `json:"code"`
}

func (c *Console) code(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	var req CodeRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Code == "" {
		return nil, errorf(http.StatusBadRequest, "give the code the client shows")
	}
	if err := c.cfg.Server.EnterCode(id, req.Code); err != nil {
		return nil, pairError(err)
	}
	return c.pairingReply(id), nil
}

func (c *Console) cancel(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	if err := c.cfg.Server.CancelPairing(id); err != nil {
		return nil, pairError(err)
	}
	c.cfg.Log.Info("operator cancelled pairing", "client", id.String())
	return map[string]string{"cancelled": id.String(), "message": "cancelled pairing with " + who(c.nameOf(id), id.String())}, nil
}

func (c *Console) unpair(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	name := who(c.nameOf(id), id.String())
	if err := c.cfg.Server.Unpair(id); err != nil {
		return nil, pairError(err)
	}
	c.cfg.Log.Info("operator unpaired a client", "client", id.String())
	return map[string]string{"unpaired": id.String(), "message": "unpaired " + name}, nil
}

// pairError maps the server's pairing errors to statuses: a request that
// does not fit the client's state is a conflict, malformed input a bad
// request.
func pairError(err error) error {
	for _, e := range []error{server.ErrNotConnected, server.ErrAttemptRunning, server.ErrNoAttempt,
		server.ErrNotAwaitingCode, server.ErrTooLate, server.ErrNotPaired} {
		if errors.Is(err, e) {
			return errorf(http.StatusConflict, "%s", operatorText(err))
		}
	}
	if errors.Is(err, server.ErrBadCode) || errors.Is(err, server.ErrBadRequest) || errors.Is(err, server.ErrBadToken) || errors.Is(err, session.ErrMethodNotOffered) ||
		errors.Is(err, session.ErrNoCodeMethod) || errors.Is(err, session.ErrNoUsableFormat) {
		return errorf(http.StatusBadRequest, "%s", operatorText(err))
	}
	return err
}

// operatorText drops the package prefixes of an error for the operator.
func operatorText(err error) string {
	msg := err.Error()
	for _, p := range []string{"server: ", "session: ", "pairing: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

// PlayRequest is the body of POST /api/play: a source for a group (by ID
// or name; the default group when absent).
type PlayRequest struct {
	Source string `json:"source"`
	Group  string `json:"group,omitempty"`
}

func (c *Console) play(_ http.ResponseWriter, r *http.Request) (any, error) {
	if c.cfg.Play == nil {
		return nil, errorf(http.StatusNotImplemented, "this server does not take sources from the console")
	}
	var req PlayRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	g, err := c.resolveGroup(req.Group, server.DefaultGroup)
	if err != nil {
		return nil, err
	}
	if err := c.cfg.Play(g.ID, req.Source); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	return map[string]string{"playing": req.Source, "group": g.ID,
		"message": fmt.Sprintf("playing %s in group %s", req.Source, groupWho(g))}, nil
}

// StopRequest is the body of POST /api/stop: the group to stop (by ID or
// name); every group when absent.
type StopRequest struct {
	Group string `json:"group,omitempty"`
}

func (c *Console) stop(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req StopRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Group == "" {
		was := c.cfg.Server.Playing()
		c.cfg.Server.Stop()
		if !was {
			return map[string]string{"message": "nothing was playing"}, nil
		}
		return map[string]string{"message": "stopped every group"}, nil
	}
	g, err := c.resolveGroup(req.Group, "")
	if err != nil {
		return nil, err
	}
	if err := c.cfg.Server.StopGroup(g.ID); err != nil {
		return nil, errorf(http.StatusNotFound, "%s", operatorText(err))
	}
	msg := "stopped group " + groupWho(g)
	if !g.Playing {
		msg = "group " + groupWho(g) + " was not playing"
	}
	return map[string]string{"stopped": g.ID, "message": msg}, nil
}

// NextRequest is the body of POST /api/next: the group (by ID or name;
// the default group when absent) whose folder skips to its next track.
type NextRequest struct {
	Group string `json:"group,omitempty"`
}

func (c *Console) next(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req NextRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	g, err := c.resolveGroup(req.Group, server.DefaultGroup)
	if err != nil {
		return nil, err
	}
	if err := c.cfg.Server.Skip(g.ID); err != nil {
		return nil, errorf(http.StatusConflict, "%s", operatorText(err))
	}
	c.cfg.Log.Info("operator skipped a track", "group", g.ID)
	return map[string]string{"skipped": g.ID, "message": "skipped to the next track in group " + groupWho(g)}, nil
}

// VolumeRequest is the body of POST /api/volume: a volume (0-100) or a
// mute state, or both, for one client or a group (the default group when
// neither is given). A group's volume keeps its players' relative levels.
type VolumeRequest struct {
	Volume *int   `json:"volume,omitempty"`
	Muted  *bool  `json:"muted,omitempty"`
	Client string `json:"client,omitempty"`
	Group  string `json:"group,omitempty"`
}

func (c *Console) volume(_ http.ResponseWriter, r *http.Request) (any, error) {
	var req VolumeRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.Volume == nil && req.Muted == nil {
		return nil, errorf(http.StatusBadRequest, "give a volume (0-100) or a mute state")
	}
	if req.Volume != nil && (*req.Volume < 0 || *req.Volume > 100) {
		return nil, errorf(http.StatusBadRequest, "volume is 0-100, not %d", *req.Volume)
	}
	if req.Client != "" && req.Group != "" {
		return nil, errorf(http.StatusBadRequest, "give a client or a group, not both")
	}
	fail := func(err error) error {
		switch {
		case errors.Is(err, server.ErrNoVolume), errors.Is(err, server.ErrNotConnected):
			return errorf(http.StatusConflict, "%s", operatorText(err))
		case errors.Is(err, server.ErrNoGroup):
			return errorf(http.StatusNotFound, "%s", operatorText(err))
		}
		return err
	}
	out := map[string]any{}
	if req.Client != "" {
		r.SetPathValue("id", req.Client)
		id, err := c.resolve(r)
		if err != nil {
			return nil, err
		}
		if req.Volume != nil {
			if err := c.cfg.Server.SetVolume(id, *req.Volume); err != nil {
				return nil, fail(err)
			}
		}
		if req.Muted != nil {
			if err := c.cfg.Server.SetMute(id, *req.Muted); err != nil {
				return nil, fail(err)
			}
		}
		out["client"] = id.String()
		out["message"] = volumeText(who(c.nameOf(id), id.String()), req)
	} else {
		g, err := c.resolveGroup(req.Group, server.DefaultGroup)
		if err != nil {
			return nil, err
		}
		if req.Volume != nil {
			if err := c.cfg.Server.SetGroupVolume(g.ID, *req.Volume); err != nil {
				return nil, fail(err)
			}
		}
		if req.Muted != nil {
			if err := c.cfg.Server.SetGroupMute(g.ID, *req.Muted); err != nil {
				return nil, fail(err)
			}
		}
		out["group"] = g.ID
		out["message"] = volumeText("group "+groupWho(g), req)
	}
	if req.Volume != nil {
		out["volume"] = *req.Volume
	}
	if req.Muted != nil {
		out["muted"] = *req.Muted
	}
	return out, nil
}

// Group is one entry of GET /api/groups.
type Group struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Playing bool   `json:"playing"`
	// Solo: made for one client that became unavailable or left its
	// group; it goes when that client joins another.
	Solo   bool   `json:"solo,omitempty"`
	Source string `json:"source,omitempty"`
	// NowPlaying: the track heard, not the folder.
	NowPlaying
	// Volume and Muted are read from what its players report
	// (roles/controller/v1.md); 100 and false when none reports them.
	Volume  int           `json:"volume"`
	Muted   bool          `json:"muted"`
	Members []GroupMember `json:"members"`
}

// GroupMember is a client in a group.
type GroupMember struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Connected bool   `json:"connected"`
	// Playing: the member has the playback activity and the player role,
	// so it takes part in the group's playback; a member of a playing
	// group without it is not counted as playing.
	Playing bool `json:"playing,omitempty"`
	// Note says why a member cannot play: "offline", "not approved",
	// "needs re-pairing", "unavailable"; absent when nothing stands in
	// its way.
	Note string `json:"note,omitempty"`
}

// GroupList is GET /api/groups.
type GroupList struct {
	Groups []Group `json:"groups"`
}

func (c *Console) groups(http.ResponseWriter, *http.Request) (any, error) {
	names := map[keys.PublicKey]string{}
	connected := map[keys.PublicKey]server.ClientInfo{}
	for _, ci := range c.cfg.Server.Clients() {
		if _, dup := connected[ci.ID]; dup && !ci.Playing() {
			continue // a client connected twice: the connection that plays
		}
		names[ci.ID], connected[ci.ID] = ci.Name, ci
	}
	if approvals, err := c.cfg.Store.Approvals(); err == nil {
		for _, a := range approvals {
			if names[a.Client] == "" {
				names[a.Client] = a.Name
			}
		}
	}
	if notes, err := c.cfg.Store.ClientNotes(); err == nil {
		for k, n := range notes {
			if names[k] == "" {
				names[k] = n.Name
			}
		}
	}
	out := GroupList{Groups: []Group{}}
	for _, g := range c.cfg.Server.Groups() {
		e := Group{ID: g.ID, Name: g.Name, Playing: g.Playing, Solo: g.Solo, Members: []GroupMember{}}
		e.Volume, e.Muted, _ = c.cfg.Server.GroupVolume(g.ID)
		if g.Playing && c.cfg.Source != nil {
			e.Source = c.cfg.Source(g.ID)
		}
		e.NowPlaying = c.nowPlaying(g.ID, e.Source)
		for _, m := range g.Members {
			ci, on := connected[m]
			gm := GroupMember{ID: m.String(), Name: names[m], Connected: on, Playing: on && ci.Playing()}
			gm.Note = memberNote(ci, on)
			e.Members = append(e.Members, gm)
		}
		out.Groups = append(out.Groups, e)
	}
	return out, nil
}

// memberNote says what keeps a group member from playing, "" when
// nothing does.
func memberNote(ci server.ClientInfo, connected bool) string {
	switch {
	case !connected:
		return "offline"
	case ci.Mismatch:
		return "needs re-pairing"
	case ci.Status == server.StatusUnapproved:
		return "not approved"
	case !ci.Available && !ci.Playing():
		return "unavailable"
	}
	return ""
}

// resolveGroup finds a group by its ID, or by its name when one group
// alone has it; an empty arg is def (none when def is empty).
func (c *Console) resolveGroup(arg, def string) (server.GroupInfo, error) {
	arg = strings.TrimSpace(arg)
	if arg == "" {
		arg = def
	}
	if arg == "" {
		return server.GroupInfo{}, errorf(http.StatusBadRequest, "give a group")
	}
	var byName []server.GroupInfo
	for _, g := range c.cfg.Server.Groups() {
		if g.ID == arg {
			return g, nil
		}
		if strings.EqualFold(g.Name, arg) {
			byName = append(byName, g)
		}
	}
	switch len(byName) {
	case 0:
		return server.GroupInfo{}, errorf(http.StatusNotFound, "no group %q (tonearm ctl groups lists them)", arg)
	case 1:
		return byName[0], nil
	}
	return server.GroupInfo{}, errorf(http.StatusConflict, "%d groups are named %q; give the group ID", len(byName), arg)
}

// JoinRequest is the body of POST /api/clients/{id}/join.
type JoinRequest struct {
	Group string `json:"group"`
}

// join moves a client into a group: how a client that left its group, or
// became unavailable, comes back to one (messaging.md "External Source
// Handling").
func (c *Console) join(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	var req JoinRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	g, err := c.resolveGroup(req.Group, "")
	if err != nil {
		return nil, err
	}
	if err := c.cfg.Server.JoinGroup(id, g.ID); err != nil {
		return nil, errorf(http.StatusConflict, "%s", operatorText(err))
	}
	c.cfg.Log.Info("operator moved a client to a group", "client", id.String(), "group", g.ID)
	return map[string]string{"client": id.String(), "group": g.ID, "group_name": g.Name,
		"message": fmt.Sprintf("%s joined group %s", who(c.nameOf(id), id.String()), groupWho(g))}, nil
}

// leave moves a client out of its group into a stopped group of its own.
func (c *Console) leave(_ http.ResponseWriter, r *http.Request) (any, error) {
	id, err := c.resolve(r)
	if err != nil {
		return nil, err
	}
	before, _ := c.cfg.Server.GroupOf(id)
	if err := c.cfg.Server.LeaveGroup(id); err != nil {
		return nil, errorf(http.StatusConflict, "%s", operatorText(err))
	}
	g, _ := c.cfg.Server.GroupOf(id)
	c.cfg.Log.Info("operator took a client out of its group", "client", id.String(), "group", g.ID)
	name := who(c.nameOf(id), id.String())
	// Alone in its group, a client that leaves stays and its group stops
	// (messaging.md "Server behavior when a client becomes unavailable").
	msg := fmt.Sprintf("%s left group %s; now alone in a stopped group of its own", name, groupWho(before))
	if g.ID == before.ID {
		msg = fmt.Sprintf("%s was alone in group %s, which stopped", name, groupWho(g))
	}
	return map[string]string{"client": id.String(), "group": g.ID, "group_name": g.Name, "message": msg}, nil
}
