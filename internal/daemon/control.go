package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// The player's operator actions (pairing.md leaves them to the
// manufacturer): `tonearm player OP ...` runs them against a running
// player through its control socket, or straight on the store when no
// player runs, so the store is never opened by two processes.

// ControlSocket is the control socket's name in the state directory.
const ControlSocket = "control.sock"

// Settings the player keeps in its store.
const (
	settingName           = "name"
	settingUnpairedAccess = "unpaired_access"
)

// Control operations.
const (
	OpStatus         = "status"
	OpToken          = "token"
	OpRotatePSK      = "rotate-psk"
	OpStaticCode     = "static-code"
	OpUnpairedAccess = "unpaired-access"
	OpName           = "name"
	OpRecords        = "records"
	OpForget         = "forget"
	OpFactoryReset   = "factory-reset"
	OpPairWindow     = "pair-window"
	OpCancelPairing  = "cancel-pairing"
	OpResetRounds    = "reset-pairing-rounds"
)

// ControlRequest is one operator request.
type ControlRequest struct {
	Op string `json:"op"`
	// Arg is the operation's argument: a code, on/off, a name, a server
	// ID; empty to read.
	Arg string `json:"arg,omitempty"`
}

// ControlReply answers a request.
type ControlReply struct {
	Error   string          `json:"error,omitempty"`
	Running bool            `json:"running"`
	Result  json.RawMessage `json:"result,omitempty"`
}

// RecordInfo is one pairing record as the operator sees it (never the
// PSK).
type RecordInfo struct {
	Server string `json:"server"`
	// Name is the server's name when it paired; "" for records kept
	// before names were.
	Name         string    `json:"name,omitempty"`
	LastUsed     time.Time `json:"last_used"`
	LastPlayback bool      `json:"last_playback,omitempty"`
}

// Records answers OpRecords: the records, most recently used first, and
// how many the player keeps (pairing.md "Pairing Records": at least 5).
type Records struct {
	Records  []RecordInfo `json:"records"`
	Capacity int          `json:"capacity"`
}

// PlayerStatus answers OpStatus.
type PlayerStatus struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	UnpairedAccess bool   `json:"unpaired_access"`
	Records        int    `json:"records"`
	// RecordCapacity is how many pairing records the player keeps.
	RecordCapacity int    `json:"record_capacity"`
	Connected      bool   `json:"connected"`
	Server         string `json:"server,omitempty"`
	ServerName     string `json:"server_name,omitempty"`
	Paired         bool   `json:"paired,omitempty"`
	Available      bool   `json:"available,omitempty"`
	// Activities are the activities the server has granted on the
	// connection (server/activate), and Roles the roles it activated:
	// what the player actually does, whatever its group plays.
	Activities []string `json:"activities,omitempty"`
	Roles      []string `json:"roles,omitempty"`
	// Group is the group the server last reported (group/update).
	Group        string `json:"group,omitempty"`
	GroupName    string `json:"group_name,omitempty"`
	GroupPlaying bool   `json:"group_playing,omitempty"`
	Volume       int    `json:"volume"`
	Muted        bool   `json:"muted,omitempty"`
	// Pairing describes a running attempt ("" when none).
	Pairing string `json:"pairing,omitempty"`
	// PairingWindowCloses is set while the static pairing window is open.
	PairingWindowCloses *time.Time `json:"pairing_window_closes,omitempty"`
	// LastEviction and LastServerEvent are the last of each since the
	// player started.
	LastEviction    *EvictionInfo    `json:"last_eviction,omitempty"`
	LastServerEvent *ServerEventInfo `json:"last_server_event,omitempty"`
}

// EvictionInfo is a pairing record evicted for a new pairing.
type EvictionInfo struct {
	Server  string    `json:"server"`
	Name    string    `json:"name,omitempty"`
	For     string    `json:"for"`
	ForName string    `json:"for_name,omitempty"`
	At      time.Time `json:"at"`
}

// ServerEventInfo is something a server did to the player (server/unpair).
type ServerEventInfo struct {
	Server string    `json:"server"`
	Name   string    `json:"name,omitempty"`
	What   string    `json:"what"`
	At     time.Time `json:"at"`
}

// errRunning refuses, on a running player, a change that its live
// connections would not pick up.
var errRunning = errors.New("the player is running: stop it first, then run this again")

// errNotRunning refuses an action that only a running player can take.
var errNotRunning = errors.New("the player is not running: this acts on a running player")

// operate carries out req on st; pl is the running player, nil offline.
func operate(st *store.Store, pl *player.Player, req ControlRequest) (any, error) {
	switch req.Op {
	case OpStatus:
		return status(st, pl)
	case OpToken:
		psk, err := st.PairingPSK(nil)
		if err != nil {
			return nil, err
		}
		id, err := st.Identity(nil)
		if err != nil {
			return nil, err
		}
		return map[string]string{"token": pairing.PSKToken{ClientKey: id.Public(), PSK: psk}.Encode()}, nil
	case OpRotatePSK:
		if pl != nil {
			return nil, errRunning
		}
		if _, err := st.RotatePairingPSK(nil); err != nil {
			return nil, err
		}
		return operate(st, nil, ControlRequest{Op: OpToken})
	case OpStaticCode:
		return staticCode(st, pl, req.Arg)
	case OpUnpairedAccess:
		if req.Arg != "" {
			if req.Arg != "on" && req.Arg != "off" {
				return nil, fmt.Errorf("unpaired access is on or off, not %q", req.Arg)
			}
			if err := st.SetSetting(settingUnpairedAccess, req.Arg); err != nil {
				return nil, err
			}
			if pl != nil {
				// Live: connections relying on it close (pairing.md
				// "Unpaired Access").
				closed := pl.SetUnpairedAccess(req.Arg == "on")
				return map[string]any{"unpaired_access": req.Arg == "on", "closed": closed}, nil
			}
		}
		on, err := unpairedAccess(st)
		return map[string]bool{"unpaired_access": on}, err
	case OpName:
		if req.Arg != "" {
			if err := validName(req.Arg); err != nil {
				return nil, err
			}
			if pl != nil {
				return nil, errRunning
			}
			if err := st.SetSetting(settingName, req.Arg); err != nil {
				return nil, err
			}
		}
		name, err := playerName(st)
		return map[string]string{"name": name}, err
	case OpRecords:
		return records(st, pl)
	case OpForget:
		list, err := records(st, pl)
		if err != nil {
			return nil, err
		}
		r, err := ResolveServer(list.Records, req.Arg)
		if err != nil {
			return nil, err
		}
		k, _ := keys.ParsePublicKey(r.Server) // from the store: valid
		if pl != nil {
			if _, err := pl.ForgetServer(k); errors.Is(err, player.ErrNoRecord) {
				return nil, fmt.Errorf("no pairing record for server %s", r.Server)
			} else if err != nil {
				return nil, err
			}
		} else if err := st.DeleteServerRecord(k); err != nil {
			return nil, err
		}
		return map[string]string{"forgot": r.Server, "name": r.Name}, nil
	case OpPairWindow:
		if pl == nil {
			return nil, errNotRunning
		}
		switch req.Arg {
		case "", "open":
			if err := pl.OpenPairingWindow(); err != nil {
				return nil, staticErr(err)
			}
		case "close":
			if err := pl.ClosePairingWindow(); err != nil {
				return nil, staticErr(err)
			}
		default:
			return nil, fmt.Errorf("pair-window takes open or close, not %q", req.Arg)
		}
		s := pl.Status()
		out := map[string]any{"open": s.PairingWindow}
		if s.PairingWindow {
			out["closes"] = s.PairingWindowCloses
		}
		return out, nil
	case OpCancelPairing:
		if pl == nil {
			return nil, errNotRunning
		}
		if err := pl.CancelPairing(); errors.Is(err, player.ErrNoAttempt) {
			return nil, errors.New("no pairing attempt is running")
		} else if err != nil {
			return nil, err
		}
		return map[string]bool{"cancelled": true}, nil
	case OpResetRounds:
		if pl == nil {
			return nil, errNotRunning
		}
		pl.ResetPairingRounds()
		return map[string]bool{"reset": true}, nil
	case OpFactoryReset:
		if pl != nil {
			return nil, errRunning
		}
		if err := st.FactoryReset(); err != nil {
			return nil, err
		}
		return map[string]bool{"reset": true}, nil
	}
	return nil, fmt.Errorf("unknown operation %q", req.Op)
}

func staticErr(err error) error {
	if errors.Is(err, player.ErrNoStaticCode) {
		return errors.New("the static pairing code is not offered: start the player with --pairing-code static")
	}
	return err
}

func status(st *store.Store, pl *player.Player) (PlayerStatus, error) {
	id, err := st.Identity(nil)
	if err != nil {
		return PlayerStatus{}, err
	}
	name, err := playerName(st)
	if err != nil {
		return PlayerStatus{}, err
	}
	on, err := unpairedAccess(st)
	if err != nil {
		return PlayerStatus{}, err
	}
	recs, err := st.ServerRecords()
	if err != nil {
		return PlayerStatus{}, err
	}
	ps := PlayerStatus{ID: id.Public().String(), Name: name, UnpairedAccess: on, Records: len(recs), RecordCapacity: capacity(pl)}
	if pl != nil {
		s := pl.Status()
		if e := s.LastEviction; e != nil {
			ps.LastEviction = &EvictionInfo{Server: e.Server.String(), Name: e.Name, For: e.For.String(), ForName: e.ForName, At: e.At}
		}
		if e := s.LastServerEvent; e != nil {
			ps.LastServerEvent = &ServerEventInfo{Server: e.Server.String(), Name: e.Name, What: e.What, At: e.At}
		}
		ps.Volume, ps.Muted = s.Volume, s.Muted
		ps.Connected, ps.Paired, ps.Available = s.Connected, s.Paired, s.Available
		if s.Connected {
			ps.Server, ps.ServerName = s.Server.String(), s.ServerName
			ps.Group, ps.GroupName = s.Group.GroupID, s.Group.GroupName
			ps.GroupPlaying = s.Group.PlaybackState == wire.PlaybackPlaying
			for _, a := range s.Activities.Activities() {
				ps.Activities = append(ps.Activities, string(a))
			}
			for _, r := range s.Roles {
				ps.Roles = append(ps.Roles, string(r))
			}
		}
		if s.Pairing.Active {
			ps.Pairing = string(s.Pairing.Method)
			if s.Pairing.HeldBack != 0 {
				ps.Pairing += ", held back: " + s.Pairing.HeldBack.String()
			}
		}
		if s.PairingWindow {
			t := s.PairingWindowCloses
			ps.PairingWindowCloses = &t
		}
	}
	return ps, nil
}

func staticCode(st *store.Store, pl *player.Player, arg string) (any, error) {
	switch arg {
	case "":
	case "regenerate":
		if pl != nil {
			return nil, errRunning
		}
		c, err := pairing.GenerateStaticCode(nil)
		if err != nil {
			return nil, err
		}
		if err := st.SetStaticCode(c); err != nil {
			return nil, err
		}
	default:
		c, err := pairing.ParseStaticCode(arg)
		if err != nil {
			return nil, fmt.Errorf("static code: %w", err)
		}
		if pl != nil {
			return nil, errRunning
		}
		if err := st.SetStaticCode(c); err != nil {
			return nil, err
		}
	}
	c, err := st.StaticCode(nil)
	if err != nil {
		return nil, err
	}
	return map[string]string{"static_code": c.Grouped()}, nil
}

func records(st *store.Store, pl *player.Player) (Records, error) {
	recs, err := st.ServerRecords()
	if err != nil {
		return Records{}, err
	}
	last, hasLast, err := st.LastPlaybackServer()
	if err != nil {
		return Records{}, err
	}
	out := Records{Records: make([]RecordInfo, 0, len(recs)), Capacity: capacity(pl)}
	for _, r := range recs {
		out.Records = append(out.Records, RecordInfo{Server: r.Server.String(), Name: r.Name, LastUsed: r.LastUsed,
			LastPlayback: hasLast && last == r.Server})
	}
	return out, nil
}

// capacity is the running player's record capacity, else the one a player
// starts with.
func capacity(pl *player.Player) int {
	if pl != nil {
		return pl.RecordCapacity()
	}
	return store.MinRecordCapacity
}

// minServerPrefix is the shortest server ID prefix forget accepts, as ctl
// does for clients.
const minServerPrefix = 4

// ResolveServer finds the record a server ID or a unique prefix of one (at
// least 4 characters) names.
func ResolveServer(recs []RecordInfo, arg string) (RecordInfo, error) {
	if k, err := keys.ParsePublicKey(arg); err == nil {
		for _, r := range recs {
			if r.Server == k.String() {
				return r, nil
			}
		}
		return RecordInfo{}, fmt.Errorf("no pairing record for server %s", arg)
	}
	if len(arg) < minServerPrefix {
		return RecordInfo{}, fmt.Errorf("server %q: give the server ID or at least %d of its first characters, as 'tonearm player records' shows it", arg, minServerPrefix)
	}
	var match []RecordInfo
	for _, r := range recs {
		if strings.HasPrefix(r.Server, arg) {
			match = append(match, r)
		}
	}
	switch len(match) {
	case 0:
		return RecordInfo{}, fmt.Errorf("no pairing record has a server ID starting %q", arg)
	case 1:
		return match[0], nil
	}
	return RecordInfo{}, fmt.Errorf("%d pairing records have a server ID starting %q; give more of it", len(match), arg)
}

// playerName is the stored name, else the host name.
func playerName(st *store.Store) (string, error) {
	name, ok, err := st.Setting(settingName)
	if err != nil || ok {
		return name, err
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h, nil
	}
	return "Tonearm player", nil
}

// unpairedAccess is the stored setting; off unless the owner turned it on
// (pairing.md "Unpaired Access": the safe default).
func unpairedAccess(st *store.Store) (bool, error) {
	v, _, err := st.Setting(settingUnpairedAccess)
	return v == "on", err
}

func validName(s string) error {
	if strings.TrimSpace(s) == "" || len(s) > 63 {
		return errors.New("a name is 1 to 63 bytes")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return errors.New("a name cannot hold control characters")
		}
	}
	return nil
}

// serveControl answers control requests on ln until ctx is done.
func serveControl(ctx context.Context, ln net.Listener, st *store.Store, pl *player.Player, log *slog.Logger) {
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(controlTimeout))
			line, err := bufio.NewReaderSize(io.LimitReader(c, maxControlRequest), 4096).ReadBytes('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				line = nil
			}
			_, _ = c.Write(answer(line, st, pl, log))
		}()
	}
}

// answer carries out one request line and returns the reply line.
func answer(line []byte, st *store.Store, pl *player.Player, log *slog.Logger) []byte {
	var req ControlRequest
	reply := ControlReply{Running: pl != nil}
	if err := json.Unmarshal(line, &req); err != nil {
		reply.Error = "malformed control request"
	} else if v, err := operate(st, pl, req); err != nil {
		reply.Error = err.Error()
	} else {
		reply.Result, _ = json.Marshal(v)
		log.Info("operator action", "op", req.Op)
	}
	b, _ := json.Marshal(reply)
	return append(b, '\n')
}

// listenControl opens the control socket (0600) in the state directory.
// The store is already locked by this process, so a socket left there is
// stale: it is replaced.
func listenControl(state string) (net.Listener, error) {
	path := filepath.Join(state, ControlSocket)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	return ln, nil
}

// Control runs one operator request against the player whose state
// directory is state: through its control socket when it runs, else on
// its store directly.
func Control(state string, req ControlRequest) (ControlReply, error) {
	// A player that is starting holds its store before its socket
	// listens: wait for the socket a little rather than report the store
	// busy.
	deadline := time.Now().Add(controlStartup)
	for {
		c, err := net.DialTimeout("unix", filepath.Join(state, ControlSocket), controlTimeout)
		if err == nil {
			defer c.Close()
			return exchange(c, req)
		}
		// No player listening: work on the store (which fails clearly if
		// a player holds it without its socket).
		st, err := store.Open(state)
		if errors.Is(err, store.ErrInUse) && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil {
			return ControlReply{}, err
		}
		defer st.Close()
		reply := ControlReply{}
		v, err := operate(st, nil, req)
		if err != nil {
			reply.Error = err.Error()
			return reply, nil
		}
		reply.Result, _ = json.Marshal(v)
		return reply, nil
	}
}

func exchange(c net.Conn, req ControlRequest) (ControlReply, error) {
	_ = c.SetDeadline(time.Now().Add(controlTimeout))
	b, _ := json.Marshal(req)
	if _, err := c.Write(append(b, '\n')); err != nil {
		return ControlReply{}, fmt.Errorf("control socket: %w", err)
	}
	line, err := bufio.NewReader(io.LimitReader(c, maxControlRequest)).ReadBytes('\n')
	if err != nil {
		return ControlReply{}, fmt.Errorf("control socket: %w", err)
	}
	var reply ControlReply
	if err := json.Unmarshal(line, &reply); err != nil {
		return ControlReply{}, errors.New("control socket: malformed reply")
	}
	return reply, nil
}
