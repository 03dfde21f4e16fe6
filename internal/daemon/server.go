package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/tonearm-audio/tonearm/internal/console"
	"github.com/tonearm-audio/tonearm/internal/discovery"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// ServerOptions configure RunServer.
type ServerOptions struct {
	State   string // state directory
	Name    string
	Listen  string // Sendspin listener address
	Console string // console address
	Play    string // source to play at start (see OpenSource); SourceNone for none
	Connect []string
	MDNS    bool
	Log     *slog.Logger
	Stdin   io.Reader
	// Discovery overrides mDNS (tests use discovery.Memory).
	Advertiser discovery.Advertiser
	Browser    discovery.Browser
	// Ready is called once the listeners are up.
	Ready func(ServerInfo)
}

// ServerInfoFile is the file in the server's state directory that names
// the running server's endpoint and console (JSON ServerInfo); it is
// removed when the server stops.
const ServerInfoFile = "server.json"

// ServerInfo is what a running server tells its caller.
type ServerInfo struct {
	URL        string `json:"url"` // the Sendspin endpoint, ws://HOST:PORT/sendspin
	ConsoleURL string `json:"console"`
	ID         string `json:"id"`
}

// RunServer runs a Tonearm server until ctx is done.
func RunServer(ctx context.Context, o ServerOptions) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = "Tonearm"
	}
	st, err := store.Open(o.State)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, Name: o.Name, Log: log})
	if err != nil {
		return err
	}

	// The console: loopback by default; anywhere else only with the
	// token, which is written to the state directory for `tonearm ctl`.
	token, err := st.ConsoleToken()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(o.State, console.TokenFile), []byte(token+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing the console token: %w", err)
	}
	var (
		srcMu    sync.Mutex
		srcNames = map[string]string{} // what each group was last given to play
	)
	play := func(group, spec string) error {
		src, err := OpenSource(spec, o.Stdin, log)
		if err != nil {
			return err
		}
		if err := srv.PlayGroup(group, src); err != nil {
			src.Close()
			return err
		}
		name := spec
		if spec == "" {
			name = SourceTone
		}
		srcMu.Lock()
		srcNames[group] = name
		srcMu.Unlock()
		log.Info("playing", "source", name, "group", group)
		return nil
	}
	consoleLn, err := net.Listen("tcp", o.Console)
	if err != nil {
		return fmt.Errorf("console: %w", err)
	}
	defer consoleLn.Close()
	con, err := console.New(console.Config{Server: srv, Store: st, Name: o.Name, Token: token,
		Loopback: isLoopback(consoleLn.Addr()), Play: play, Log: log,
		Source: func(group string) string { srcMu.Lock(); defer srcMu.Unlock(); return srcNames[group] }})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("listening for players: %w", err)
	}
	defer ln.Close()
	mux := http.NewServeMux()
	mux.Handle(discovery.DefaultPath, srv)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	cs := &http.Server{Handler: con, ReadHeaderTimeout: readHeaderTimeout, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	// Shutdown waits for every handler: the console's event streams end
	// when it begins.
	cs.RegisterOnShutdown(con.Shutdown)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = hs.Serve(ln) }()
	go func() { defer wg.Done(); _ = cs.Serve(consoleLn) }()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Players named with --connect are the operator's explicit list:
	// they are dialed again whatever ended the session (nothing else would
	// tell when they are back). Players found by mDNS follow the
	// spec's policy; they come back through discovery.
	named := newDialer(ctx, log, srv.Dial, nil)
	for _, u := range o.Connect {
		named.set(u, []string{u})
	}
	defer func() { cancel(); named.wait() }()
	d := newDialer(ctx, log, srv.Dial, redialPlayer)
	// A player that left without asking to be redialed (goodbye unpaired,
	// user_request...) is dialed again when the operator pairs it: through
	// the target it came from.
	var (
		foundMu sync.Mutex
		found   = map[string]discovery.Instance{} // mDNS players by URL
	)
	srv.SetRedial(func(url string) {
		if slices.Contains(o.Connect, url) {
			named.set(url, []string{url})
			return
		}
		foundMu.Lock()
		in, ok := found[url]
		foundMu.Unlock()
		if ok {
			d.set(in.Instance, in.URLs())
			return
		}
		d.set(url, []string{url})
	})
	port := ln.Addr().(*net.TCPAddr).Port
	if o.MDNS || o.Advertiser != nil {
		adv, br := o.Advertiser, o.Browser
		if adv == nil {
			adv, br = discovery.MDNS{}, discovery.MDNS{}
		}
		ad, err := adv.Advertise(ctx, discovery.Service{Type: discovery.TypeServer, Instance: instanceName(o.Name, srv.ID().String()),
			Port: port, Path: discovery.DefaultPath, Name: o.Name, Logger: log})
		if err != nil {
			return fmt.Errorf("mdns: advertising: %w (use --no-mdns on a network without multicast)", err)
		}
		defer ad.Close()
		events, err := br.Browse(ctx, discovery.TypeClient, discovery.BrowseOptions{Logger: log})
		if err != nil {
			return fmt.Errorf("mdns: browsing for players: %w (use --no-mdns on a network without multicast)", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ev := range events {
				switch ev.Kind {
				case discovery.Appeared, discovery.Updated:
					log.Info("found a player", "name", ev.Instance.Name, "url", ev.Instance.URL())
					foundMu.Lock()
					for _, u := range ev.Instance.URLs() {
						found[u] = ev.Instance
					}
					foundMu.Unlock()
					d.set(ev.Instance.Instance, ev.Instance.URLs())
				case discovery.Gone:
					foundMu.Lock()
					for u, in := range found {
						if in.Instance == ev.Instance.Instance {
							delete(found, u)
						}
					}
					foundMu.Unlock()
					d.remove(ev.Instance.Instance)
				}
			}
		}()
	}

	info := ServerInfo{URL: "ws://" + hostPort(ln.Addr()) + discovery.DefaultPath, ConsoleURL: "http://" + hostPort(consoleLn.Addr()),
		ID: srv.ID().String()}
	log.Info("server ready", "name", o.Name, "id", info.ID, "url", info.URL, "console", info.ConsoleURL)
	if o.Play != SourceNone {
		if err := play(server.DefaultGroup, o.Play); err != nil {
			cancel()
			shutdown(srv, hs, cs, d, &wg)
			return err
		}
	}
	// The running server's addresses, for `tonearm ctl --state`.
	infoPath := filepath.Join(o.State, ServerInfoFile)
	b, _ := json.MarshalIndent(info, "", "  ")
	if err := writeFileAtomic(infoPath, append(b, '\n'), 0o600); err != nil {
		log.Warn("cannot write the server info file", "err", err)
	}
	defer os.Remove(infoPath)
	if o.Ready != nil {
		o.Ready(info)
	}
	<-ctx.Done()
	log.Info("shutting down")
	shutdown(srv, hs, cs, d, &wg)
	return nil
}

// redialPlayer is the reconnect policy for a player the server dialed
// (messaging.md "client/goodbye"): a restart or a dropped playback
// connection is dialed again (after the backoff); a player that said
// shutdown, that it is held by another server, or that it needs pairing
// first is left alone until it appears again or the operator acts.
// Failures before a session (refused, handshake) are retried.
func redialPlayer(err error) bool {
	var e *server.Ended
	if errors.As(err, &e) {
		return e.Reconnect().Automatic()
	}
	return true
}

func shutdown(srv *server.Server, hs, cs *http.Server, d *dialer, wg *sync.WaitGroup) {
	sctx, scancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer scancel()
	_ = srv.Shutdown(sctx)
	_ = hs.Shutdown(sctx)
	_ = cs.Shutdown(sctx)
	d.wait()
	wg.Wait()
}

// instanceName is a DNS-SD instance name unique on the link: the friendly
// name plus the start of the key (discovery does not probe for conflicts).
func instanceName(name, id string) string {
	suffix := " (" + id[:6] + ")"
	if len(name)+len(suffix) > 63 {
		name = truncateUTF8(name, 63-len(suffix))
	}
	return name + suffix
}

func truncateUTF8(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func isLoopback(a net.Addr) bool {
	t, ok := a.(*net.TCPAddr)
	return ok && t.IP.IsLoopback()
}

// hostPort names a listener's address for a URL: a wildcard address
// becomes 127.0.0.1 (reachable from this machine).
func hostPort(a net.Addr) string {
	t := a.(*net.TCPAddr)
	host := t.IP.String()
	if t.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, strconv.Itoa(t.Port))
}

// writeFileAtomic writes data to path through a temporary file and a
// rename: a crash leaves the old file or the new one.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
