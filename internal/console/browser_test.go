package console

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/server"
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
// the dynamic code it shows, moved between groups, its volume and mute
// set, then the first is unpaired.
func TestConsolePage(t *testing.T) {
	s := newSite(t, "Browser test")
	ctx := s.ctx
	hostile, _ := s.player(`<img src=x onerror="document.title='pwned'">`, player.CodeOff, false)
	kitchen, codes := s.player("Kitchen", player.CodeDynamic, false)
	hid, kid := hostile.ID().String(), kitchen.ID().String()

	s.open()
	s.wait("the hostile newcomer", q(card("newcomers", hid)+` .badge`))
	s.wait("Kitchen", q(card("newcomers", kid)+` .badge`))
	status := text(t, ctx, card("newcomers", hid)+` .badge`)
	name := text(t, ctx, card("newcomers", hid)+` .name`)
	imgs := eval[int](t, ctx, `document.querySelectorAll('#main img').length`)
	title := eval[string](t, ctx, `document.title`)
	if status != "not paired" || !strings.Contains(name, "<img") || imgs != 0 || title == "pwned" {
		t.Fatalf("card: badge %q, name %q, %d img elements, title %q", status, name, imgs, title)
	}

	// Pair the first by its token, typed into the page.
	s.run("token pairing in the page",
		chromedp.SendKeys(css(`#token-input`), hostile.Token()),
		chromedp.Click(css(`#token-pair`)))
	s.wait("the hostile player paired", q(card("devices", hid)+` .badge.trusted`))
	// The outcome in the server's words, as ctl prints it.
	s.wait("the page to say it paired", `document.getElementById('status-line').textContent.includes('paired with ')`)
	if !hostile.Status().Paired {
		t.Fatal("the player is not paired")
	}

	// Pair the second by the code it shows.
	s.run("starting code pairing",
		chromedp.ScrollIntoView(css(card("newcomers", kid)+` button[data-action="pair"]`)),
		chromedp.Click(css(card("newcomers", kid)+` button[data-action="pair"]`)),
		chromedp.Click(css(`#pair-go`)))
	var code string
	select {
	case code = <-codes:
	case <-time.After(10 * time.Second):
		t.Fatal("no code shown")
	}
	s.wait("the code slots", `!`+q("#code-slots input")+`.disabled`)
	s.run("entering the code in the page", chromedp.SendKeys(css(`#code-slots input`), code+"\r"))
	s.wait("Kitchen paired", q(card("devices", kid)+` .badge.trusted`))
	if !kitchen.Status().Paired {
		t.Fatal("the player is not paired by code")
	}
	s.run("close the dialog", chromedp.Click(css(`#pair-cancel`)))
	s.wait("the dialog closed", `!`+q("#pair-dialog")+`.open`)

	// Take the second out of its group with its group menu, then back.
	pick := func(value string) {
		t.Helper()
		sel := card("devices", kid) + ` select`
		s.wait("the group menu", q(sel))
		eval[bool](t, ctx, `(() => { const s = document.querySelector('`+sel+`'); s.focus(); s.value = '`+value+`';
			s.dispatchEvent(new Event('change')); s.blur(); return true; })()`)
	}
	groupCards := func(n int) {
		t.Helper()
		s.wait(fmt.Sprintf("%d groups", n), `document.querySelectorAll('#groups > li').length === `+strconv.Itoa(n))
	}
	groupCards(1)
	pick(":leave")
	groupCards(2)
	if g, ok := s.srv.GroupOf(kitchen.ID()); !ok || !g.Solo || g.Name != "Kitchen" {
		t.Fatalf("after 'on its own' the player is in %+v", g)
	}
	pick(server.DefaultGroup)
	groupCards(1)
	if g, _ := s.srv.GroupOf(kitchen.ID()); g.ID != server.DefaultGroup {
		t.Fatalf("after picking the default group the player is in %+v", g)
	}
	// The group's volume slider and mute button reach the player.
	eval[bool](t, ctx, `(() => { const s = document.querySelector('#groups li[data-group="main"] input[type="range"]');
		s.value = '35'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitFor(t, "the player at volume 35", func() bool { return kitchen.Status().Volume == 35 })
	s.run("mute", chromedp.Click(css(`#groups li[data-group="main"] button[data-action="mute"]`)))
	waitFor(t, "the player muted", func() bool { return kitchen.Status().Muted && kitchen.Status().Volume == 35 })
	s.wait("the mute shown", q(`#groups li[data-group="main"] button[data-action="unmute"]`)+`.getAttribute('aria-pressed') === 'true'`)

	// Unpair the first (the page asks to confirm).
	s.run("unpairing in the page", chromedp.Click(css(card("devices", hid)+` button[data-action="unpair"]`)))
	// The player forgets the server and leaves (goodbye unpaired): with
	// no record or approval left it drops off the known devices.
	s.wait("the hostile player gone from the known devices", `!`+q(card("devices", hid)))
	if _, ok, _ := s.st.ClientRecord(hostile.ID()); ok {
		t.Fatal("the record survived unpairing")
	}

	// The server ends the page's event stream (and takes no new one):
	// the page says it is no longer live.
	s.con.Shutdown()
	s.wait("the page saying it is not live", `!`+q("#stale")+`.hidden && document.getElementById('live').dataset.state === 'off'`)
}

// TestConsolePageNeedsToken: off loopback the page loads, asks for the
// token, and works once it is given; a wrong token keeps it asking.
func TestConsolePageNeedsToken(t *testing.T) {
	ctx := browser(t)
	r := newRig(t, false)
	// Runs first (cleanups run last first): end the page's event stream
	// so the web server can close.
	t.Cleanup(r.con.Shutdown)
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
	if msg := text(t, ctx, `#status-line`); !strings.Contains(msg, "wrong console token") {
		t.Fatalf("after a wrong token the page says %q", msg)
	}
	shoot(t, ctx, artifacts(t), "token-prompt")
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
	// With the token the page follows the server's events too.
	deadline := time.Now().Add(10 * time.Second)
	for !eval[bool](t, ctx, `document.getElementById('live').dataset.state === 'on' && document.querySelectorAll('#groups > li').length > 0`) {
		if time.Now().After(deadline) {
			t.Fatalf("the page with a token never got the server's state; live %q",
				eval[string](t, ctx, `document.getElementById('live-text').textContent`))
		}
		time.Sleep(50 * time.Millisecond)
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
