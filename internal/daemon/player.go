package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/tonearm-audio/tonearm/internal/device"
	"github.com/tonearm-audio/tonearm/internal/discovery"
	"github.com/tonearm-audio/tonearm/internal/pairing"
	"github.com/tonearm-audio/tonearm/internal/pairing/qr"
	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/store"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// ServerAuto, as --server, finds a server by mDNS (client-initiated mode).
const ServerAuto = "auto"

// PlayerOptions configure RunPlayer.
type PlayerOptions struct {
	State string
	Name  string // empty: the stored name, else the host name
	// Listen is the listener for server-initiated connections; Server
	// (a ws:// URL or ServerAuto) selects client-initiated mode instead.
	Listen string
	Server string
	Out    string // "" (the sound device if there is one, else null), device[:NAME], null or wav:PATH
	// UnpairedAccess is "on" or "off" to change the stored setting, ""
	// to keep it.
	UnpairedAccess string
	// PairingCode is the code method offered besides the pairing token:
	// "dynamic" (a code shown on Display for each attempt), "static"
	// (the stored static code), "static:CODE" (set it first) or "off".
	PairingCode string
	// Display is the player's "screen": where a dynamic pairing code is
	// shown. Nil shows it nowhere but the log event.
	Display    io.Writer
	MDNS       bool
	Log        *slog.Logger
	Advertiser discovery.Advertiser
	Browser    discovery.Browser
	Ready      func(PlayerInfo)
}

// PlayerInfo is what a running player tells its caller.
type PlayerInfo struct {
	ID   string
	Name string
	URL  string // the listener's endpoint in server-initiated mode
}

// ParseOutput checks an --out value: "device" or "device:NAME", "null",
// or "wav:PATH". It returns the kind and its argument.
func ParseOutput(spec string) (kind, arg string, err error) {
	switch {
	case spec == "null" || spec == "device":
		return spec, "", nil
	case strings.HasPrefix(spec, "device:"):
		if a := strings.TrimPrefix(spec, "device:"); a != "" {
			return "device", a, nil
		}
		return "", "", errors.New("--out device: needs a device name, as `tonearm player devices` lists them")
	case strings.HasPrefix(spec, "wav:"):
		if p := strings.TrimPrefix(spec, "wav:"); p != "" {
			return "wav", p, nil
		}
		return "", "", errors.New("--out wav: needs a file name, as in wav:out.wav")
	}
	return "", "", fmt.Errorf("--out must be device, device:NAME, null or wav:PATH, not %q", spec)
}

// openOutput makes the player's output. With no --out, the sound device
// is the default when there is one; otherwise the player plays to null
// and says so. An --out device that cannot open is an error.
func openOutput(spec string, now func() int64, log *slog.Logger) (player.Output, func() error, error) {
	kind, arg := "device", ""
	if spec != "" {
		var err error
		if kind, arg, err = ParseOutput(spec); err != nil {
			return nil, nil, err
		}
	}
	if kind == "device" {
		out, info, err := device.New(device.Options{Device: arg, Log: log}, now)
		switch {
		case err == nil:
			log.Info("playing to the sound device", "device", info.String())
			return out, func() error { return nil }, nil
		case errors.Is(err, device.ErrNoDevice) && spec == "":
			log.Warn("no sound output device; playing to null (give --out wav:PATH to record)", "err", err)
			kind = "null"
		default:
			return nil, nil, err
		}
	}
	t := &TimelineOutput{Now: now}
	if kind == "wav" {
		t.Path = arg
	}
	return t, t.Close, nil
}

// RunPlayer runs a Tonearm player until ctx is done.
func RunPlayer(ctx context.Context, o PlayerOptions) error {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.Listen != "" && o.Server != "" {
		return errors.New("give --listen or --server, not both (connection.md: a client uses one way to connect)")
	}
	if o.Out != "" {
		if _, _, err := ParseOutput(o.Out); err != nil {
			return err
		}
	}
	st, err := store.Open(o.State)
	if err != nil {
		return err
	}
	defer st.Close()
	if o.UnpairedAccess != "" {
		if o.UnpairedAccess != "on" && o.UnpairedAccess != "off" {
			return fmt.Errorf("--unpaired-access must be on or off, not %q", o.UnpairedAccess)
		}
		if err := st.SetSetting(settingUnpairedAccess, o.UnpairedAccess); err != nil {
			return err
		}
	}
	if o.Name != "" {
		if err := validName(o.Name); err != nil {
			return fmt.Errorf("--name: %w", err)
		}
		if err := st.SetSetting(settingName, o.Name); err != nil {
			return err
		}
	}
	codeMethod, err := pairingCodeMethod(st, o.PairingCode)
	if err != nil {
		return err
	}
	name, err := playerName(st)
	if err != nil {
		return err
	}
	unpaired, err := unpairedAccess(st)
	if err != nil {
		return err
	}
	var now func() int64
	out, closeOut, err := openOutput(o.Out, func() int64 { return now() }, log)
	if err != nil {
		return err
	}
	defer closeOut()
	pl, err := player.New(player.Config{Store: st, Name: name, Log: log, UnpairedAccess: unpaired, Output: out,
		PairingCode: codeMethod, CodeFormats: []wire.CodeFormat{wire.FormatDigits, wire.FormatQRCode},
		OnPairingCode: func(ev player.CodeEvent) { showCode(o.Display, log, ev) }})
	if err != nil {
		return err
	}
	now = pl.Now

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ctl, err := listenControl(o.State)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); serveControl(ctx, ctl, st, pl, log) }()
	defer wg.Wait()
	defer cancel()

	// SIGUSR1 is the local gesture that opens the static-code pairing
	// window (pairing.md "Static Pairing Code Flow"), for devices whose
	// button is wired to a signal.
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-usr1:
				if err := pl.OpenPairingWindow(); err != nil {
					log.Warn("cannot open the pairing window", "err", err)
				} else {
					log.Info("pairing window open", "closes", pl.Status().PairingWindowCloses)
				}
			}
		}
	}()

	info := PlayerInfo{ID: pl.ID().String(), Name: name}
	adv, br := o.Advertiser, o.Browser
	if adv == nil {
		adv, br = discovery.MDNS{}, discovery.MDNS{}
	}
	mdns := o.MDNS || o.Advertiser != nil
	switch {
	case o.Server == "":
		// Server-initiated (connection.md, RECOMMENDED): listen and
		// advertise _sendspin._tcp.
		listen := o.Listen
		if listen == "" {
			listen = DefaultPlayerListen
		}
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			return fmt.Errorf("listening for servers: %w", err)
		}
		// Sessions run in their handlers, after hijacking: wait for them
		// before the store closes.
		var sessions sync.WaitGroup
		defer sessions.Wait()
		mux := http.NewServeMux()
		mux.HandleFunc(discovery.DefaultPath, func(w http.ResponseWriter, r *http.Request) {
			sessions.Add(1)
			defer sessions.Done()
			pl.ServeHTTP(w, r)
		})
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: readHeaderTimeout,
			BaseContext: func(net.Listener) context.Context { return ctx },
			ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
		wg.Add(1)
		go func() { defer wg.Done(); _ = hs.Serve(ln) }()
		defer hs.Close()
		info.URL = "ws://" + hostPort(ln.Addr()) + discovery.DefaultPath
		if mdns {
			ad, err := adv.Advertise(ctx, discovery.Service{Type: discovery.TypeClient, Instance: instanceName(name, info.ID),
				Port: ln.Addr().(*net.TCPAddr).Port, Path: discovery.DefaultPath, Name: name, Logger: log})
			if err != nil {
				return fmt.Errorf("mdns: advertising: %w (use --no-mdns and have the server --connect %s)", err, info.URL)
			}
			defer ad.Close()
		}
		log.Info("player ready: waiting for servers", "name", name, "id", info.ID, "url", info.URL, "mdns", mdns)
	case o.Server == ServerAuto:
		if !mdns {
			return errors.New("--server auto finds the server by mDNS: drop --no-mdns or give the server's URL")
		}
		events, err := br.Browse(ctx, discovery.TypeServer, discovery.BrowseOptions{Logger: log})
		if err != nil {
			return fmt.Errorf("mdns: browsing for servers: %w", err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); followServers(ctx, pl, events, log) }()
		log.Info("player ready: looking for a server", "name", name, "id", info.ID)
	default:
		if !strings.HasPrefix(o.Server, "ws://") {
			return fmt.Errorf("--server must be a ws:// URL or auto, not %q (connection.md: plain ws://)", o.Server)
		}
		d := newDialer(ctx, log, pl.Connect, nil)
		d.set(o.Server, []string{o.Server})
		defer d.wait()
		log.Info("player ready: connecting", "name", name, "id", info.ID, "server", o.Server)
	}
	if o.Ready != nil {
		o.Ready(info)
	}
	<-ctx.Done()
	log.Info("shutting down")
	return nil
}

// pairingCodeMethod reads --pairing-code, storing a static code given
// with it.
func pairingCodeMethod(st *store.Store, spec string) (player.CodeMethod, error) {
	switch {
	case spec == "" || spec == "off":
		return player.CodeOff, nil
	case spec == "dynamic":
		return player.CodeDynamic, nil
	case spec == "static":
		return player.CodeStatic, nil
	case strings.HasPrefix(spec, "static:"):
		c, err := pairing.ParseStaticCode(strings.TrimPrefix(spec, "static:"))
		if err != nil {
			return 0, fmt.Errorf("--pairing-code static:CODE: %w", err)
		}
		if err := st.SetStaticCode(c); err != nil {
			return 0, err
		}
		return player.CodeStatic, nil
	}
	return 0, fmt.Errorf("--pairing-code must be dynamic, static, static:CODE or off, not %q", spec)
}

// showCode emits a dynamic pairing code (pairing.md "Dynamic Pairing Code
// Flow"): on the display, grouped, or as a QR code with its text, and as a
// structured log event. The code is meant to be read off this device;
// nothing else logs it.
func showCode(display io.Writer, log *slog.Logger, ev player.CodeEvent) {
	if ev.Stop {
		log.Info("pairing code cleared", "server", ev.ServerName)
		if display != nil {
			fmt.Fprintf(display, "pairing with %s ended; code cleared\n", ev.ServerName)
		}
		return
	}
	log.Info("pairing code", "server", ev.ServerName, "server_id", ev.Server.String(), "format", string(ev.Format),
		"code", ev.Text, "round", ev.Round)
	if display == nil {
		return
	}
	fmt.Fprintf(display, "pairing code for %s: %s\n", ev.ServerName, ev.Text)
	if ev.Token != nil {
		_ = qr.Terminal(display, ev.Token)
	}
}

// followServers connects to one discovered server at a time
// (connection.md "Multiple servers (client-initiated)": the choice is the
// implementation's): the first one found, then, when that connection
// ends, whichever is still there.
func followServers(ctx context.Context, pl *player.Player, events <-chan discovery.Event, log *slog.Logger) {
	known := map[string]discovery.Instance{}
	var order []string
	d := newDialer(ctx, log, pl.Connect, nil)
	defer d.wait()
	current := ""
	pick := func() {
		if current != "" {
			return
		}
		for _, k := range order {
			if in, ok := known[k]; ok {
				current = k
				log.Info("connecting to a discovered server", "name", in.Name, "url", in.URL())
				d.set(k, in.URLs())
				return
			}
		}
	}
	for ev := range events {
		k := ev.Instance.Instance
		switch ev.Kind {
		case discovery.Appeared, discovery.Updated:
			if _, ok := known[k]; !ok {
				order = append(order, k)
			}
			known[k] = ev.Instance
			if current == k {
				d.set(k, ev.Instance.URLs())
			}
		case discovery.Gone:
			delete(known, k)
			order = slices.DeleteFunc(order, func(s string) bool { return s == k })
			if current == k {
				d.remove(k)
				current = ""
			}
		}
		pick()
	}
}
