package console

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// browser starts headless Chromium. CI installs it (.ci/run); elsewhere a
// machine without it skips the browser tests.
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-quic", true), chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	var ctx context.Context
	// Accept the page's confirm() dialogs (unpair).
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}))
	t.Cleanup(func() { cancel(); acancel() })
	// Start the browser on the context (no timeout on this first run),
	// then bound every later step.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(tcancel)
	return tctx
}

type css = chromedp.CSS

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(css(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestConsolePage drives the console's page in a real browser: a player
// with a hostile name is listed as text, paired by its token, another by
// the dynamic code it shows, then unpaired.
func TestConsolePage(t *testing.T) {
	ctx := browser(t)
	dir := t.TempDir()
	sst, err := store.Open(filepath.Join(dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	defer sst.Close()
	srv, err := server.New(server.Config{Store: sst, Name: "Browser test"})
	if err != nil {
		t.Fatal(err)
	}
	sendspin := httptest.NewServer(srv)
	defer sendspin.Close()
	defer srv.Shutdown(context.Background())
	con, err := New(Config{Server: srv, Store: sst, Name: "Browser test", Loopback: true, Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewServer(con)
	defer web.Close()

	codes := make(chan string, 4)
	startPlayer := func(name string, code player.CodeMethod) *player.Player {
		st, err := store.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		pl, err := player.New(player.Config{Store: st, Name: name, PairingCode: code, OnPairingCode: func(ev player.CodeEvent) {
			if !ev.Stop {
				codes <- ev.Text
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		pctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- pl.Connect(pctx, "ws"+strings.TrimPrefix(sendspin.URL, "http")+"/sendspin") }()
		t.Cleanup(func() { cancel(); <-done })
		return pl
	}
	hostile := startPlayer(`<img src=x onerror="document.title='pwned'">`, player.CodeOff)
	kitchen := startPlayer("Kitchen", player.CodeDynamic)

	row := func(pl *player.Player) string { return `#clients tr[data-client="` + pl.ID().String() + `"]` }
	err = chromedp.Do(ctx,
		chromedp.Navigate(web.URL),
		chromedp.WaitVisible(css(row(hostile)+` td.status`)),
		chromedp.WaitVisible(css(row(kitchen)+` td.status`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	status := text(t, ctx, row(hostile)+` td.status`)
	name := text(t, ctx, row(hostile)+` td:first-child`)
	imgs := eval[int](t, ctx, `document.querySelectorAll('#clients img').length`)
	title := eval[string](t, ctx, `document.title`)
	if status != "unapproved" || !strings.Contains(name, "<img") || imgs != 0 || title == "pwned" {
		t.Fatalf("row: status %q, name %q, %d img elements, title %q", status, name, imgs, title)
	}

	// Pair the first by its token, typed into the page.
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css(`#token-input`), hostile.Token()),
		chromedp.Click(css(`#token-pair`)),
		chromedp.WaitVisible(css(row(hostile)+` td.status.status-paired`)),
	)
	if err != nil {
		t.Fatalf("token pairing in the page: %v", err)
	}
	if !hostile.Status().Paired {
		t.Fatal("the player is not paired")
	}

	// Pair the second by the code it shows.
	err = chromedp.Do(ctx,
		chromedp.Click(css(row(kitchen)+` button[data-action="pair by code"]`)),
		chromedp.WaitVisible(css(row(kitchen)+` input[aria-label="pairing code"]`)),
	)
	if err != nil {
		t.Fatalf("starting code pairing: %v", err)
	}
	var code string
	select {
	case code = <-codes:
	case <-time.After(10 * time.Second):
		t.Fatal("no code shown")
	}
	err = chromedp.Do(ctx,
		chromedp.SendKeys(css(row(kitchen)+` input[aria-label="pairing code"]`), code),
		chromedp.Click(css(row(kitchen)+` button[data-action="enter code"]`)),
		chromedp.WaitVisible(css(row(kitchen)+` td.status.status-paired`)),
	)
	if err != nil {
		t.Fatalf("entering the code in the page: %v", err)
	}
	if !kitchen.Status().Paired {
		t.Fatal("the player is not paired by code")
	}

	// Take the second out of its group with its group menu, then back.
	pick := func(value string) {
		t.Helper()
		sel := row(kitchen) + ` select[aria-label="group"]`
		if err := chromedp.Do(ctx, chromedp.WaitVisible(css(sel))); err != nil {
			t.Fatal(err)
		}
		eval[bool](t, ctx, `(() => { const s = document.querySelector('`+sel+`'); s.focus(); s.value = '`+value+`';
			s.dispatchEvent(new Event('change')); s.blur(); return true; })()`)
	}
	groupRows := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for eval[int](t, ctx, `document.querySelectorAll('#groups tbody tr').length`) != n {
			if time.Now().After(deadline) {
				t.Fatalf("the page never showed %d groups", n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	groupRows(1)
	pick(":leave")
	groupRows(2)
	if g, ok := srv.GroupOf(kitchen.ID()); !ok || !g.Solo || g.Name != "Kitchen" {
		t.Fatalf("after 'on its own' the player is in %+v", g)
	}
	pick(server.DefaultGroup)
	groupRows(1)
	if g, _ := srv.GroupOf(kitchen.ID()); g.ID != server.DefaultGroup {
		t.Fatalf("after picking the default group the player is in %+v", g)
	}
	// The group's volume slider and mute button reach the player.
	eval[bool](t, ctx, `(() => { const s = document.querySelector('#groups tr[data-group="main"] input[aria-label="group volume"]');
		s.value = '35'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitFor(t, "the player at volume 35", func() bool { return kitchen.Status().Volume == 35 })
	eval[bool](t, ctx, `(() => { document.querySelector('#groups tr[data-group="main"] button[data-action="mute"]').click(); return true; })()`)
	waitFor(t, "the player muted", func() bool { return kitchen.Status().Muted && kitchen.Status().Volume == 35 })

	// Unpair the first (the page asks to confirm).
	err = chromedp.Do(ctx,
		chromedp.Click(css(row(hostile)+` button[data-action="unpair"]`)),
		// The player forgets the server and leaves (goodbye unpaired):
		// it stays listed, offline and no longer paired, so the operator
		// can find it again (issue 11 case 2).
		chromedp.WaitVisible(css(row(hostile)+` td.status.status-unapproved`)),
	)
	if err != nil {
		t.Fatalf("unpairing in the page: %v", err)
	}
	if _, ok, _ := sst.ClientRecord(hostile.ID()); ok {
		t.Fatal("the record survived unpairing")
	}
}

// TestConsolePageNeedsToken: off loopback the page loads, asks for the
// token, and works once it is given; a wrong token keeps it asking.
func TestConsolePageNeedsToken(t *testing.T) {
	ctx := browser(t)
	r := newRig(t, false)
	for i, step := range []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(r.ts.URL),
		chromedp.WaitVisible(css(`#login`)),
		chromedp.SendKeys(css(`#login-token`), "wrong"),
		chromedp.Click(css(`#login-form button`)),
		chromedp.Sleep(300 * time.Millisecond),
	} {
		if err := chromedp.Do(ctx, step); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if !eval[bool](t, ctx, `!document.getElementById('login').hidden`) || !eval[bool](t, ctx, `document.getElementById('main').hidden`) {
		t.Fatal("after a wrong token the page does not keep asking for it")
	}
	err := chromedp.Do(ctx,
		chromedp.SetValue(css(`#login-token`), testToken),
		chromedp.Click(css(`#login-form button`)),
		chromedp.WaitVisible(css(`#main`)),
	)
	if err != nil {
		t.Fatal(err)
	}
	if name := text(t, ctx, `#server-name`); name != "Test" {
		t.Fatalf("server name %q", name)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
