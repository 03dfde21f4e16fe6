package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/tonearm-audio/tonearm/internal/audio"
	"github.com/tonearm-audio/tonearm/internal/keys"
	"github.com/tonearm-audio/tonearm/internal/player"
	"github.com/tonearm-audio/tonearm/internal/securechan"
	"github.com/tonearm-audio/tonearm/internal/server"
	"github.com/tonearm-audio/tonearm/internal/store"
)

// site is a real Tonearm server with its console on loopback, real players
// connected to it over WebSocket, and a browser on the console's page.
type site struct {
	t        *testing.T
	ctx      context.Context
	dir      string
	st       *store.Store
	srv      *server.Server
	con      *Console
	sendspin *httptest.Server
	web      *httptest.Server
	shots    string
	// stores holds each player's store (its static code is there).
	stores map[*player.Player]*store.Store
}

func newSite(t *testing.T, name string) *site {
	t.Helper()
	ctx := browser(t)
	s := &site{t: t, ctx: ctx, dir: t.TempDir(), stores: map[*player.Player]*store.Store{}}
	s.shots = artifacts(t)
	var err error
	s.st, err = store.Open(filepath.Join(s.dir, "server"))
	if err != nil {
		t.Fatal(err)
	}
	s.srv, err = server.New(server.Config{Store: s.st, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	s.sendspin = httptest.NewServer(s.srv)
	var mu sync.Mutex
	played := map[string]string{}
	s.con, err = New(Config{Server: s.srv, Store: s.st, Name: name, Loopback: true, Token: testToken,
		Play: func(group, src string) error {
			if src != "tone" {
				return fmt.Errorf("no such file or folder: %s", src)
			}
			tone, err := audio.NewTone(audio.Format{SampleRate: 48000, Channels: 2, BitDepth: 16})
			if err != nil {
				return err
			}
			if err := s.srv.PlayGroup(group, tone); err != nil {
				tone.Close()
				return err
			}
			mu.Lock()
			played[group] = src
			mu.Unlock()
			return nil
		},
		Source: func(group string) string { mu.Lock(); defer mu.Unlock(); return played[group] }})
	if err != nil {
		t.Fatal(err)
	}
	s.web = httptest.NewServer(s.con)
	// Runs before the browser closes (cleanups run last first): the
	// console ends its event streams so the web server can close.
	t.Cleanup(func() {
		s.con.Shutdown()
		s.web.Close()
		s.srv.Shutdown(context.Background())
		s.sendspin.Close()
		s.st.Close()
	})
	return s
}

// player starts a real player connecting to the server; codes receives
// the dynamic codes it shows (123-456).
func (s *site) player(name string, code player.CodeMethod, unpairedAccess bool) (*player.Player, chan string) {
	s.t.Helper()
	return s.playerWith(name, code, unpairedAccess, nil)
}

// playerWith is player, calling before (when set) ahead of connecting.
func (s *site) playerWith(name string, code player.CodeMethod, unpairedAccess bool, before func(*player.Player)) (*player.Player, chan string) {
	t := s.t
	t.Helper()
	st, err := store.Open(filepath.Join(s.dir, "player-"+strconv.Itoa(len(name))+"-"+fmt.Sprint(time.Now().UnixNano())))
	if err != nil {
		t.Fatal(err)
	}
	codes := make(chan string, 8)
	pl, err := player.New(player.Config{Store: st, Name: name, PairingCode: code, UnpairedAccess: unpairedAccess,
		OnPairingCode: func(ev player.CodeEvent) {
			if !ev.Stop {
				select {
				case codes <- ev.Text:
				default:
				}
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.stores[pl] = st
	if before != nil {
		before(pl)
	}
	pctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- pl.Connect(pctx, "ws"+strings.TrimPrefix(s.sendspin.URL, "http")+"/sendspin") }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return pl, codes
}

// open loads the console page and records the script errors it throws.
func (s *site) open() {
	s.t.Helper()
	s.run("open the page", chromedp.EmulateViewport(390, 844), chromedp.Navigate(s.web.URL))
	eval[bool](s.t, s.ctx, `(() => { window.pageErrors = [];
		addEventListener('error', (e) => pageErrors.push(String(e.message)));
		addEventListener('unhandledrejection', (e) => pageErrors.push(String(e.reason)));
		return true; })()`)
	s.t.Cleanup(func() {
		if errs := eval[[]string](s.t, s.ctx, `window.pageErrors || []`); len(errs) > 0 {
			s.t.Errorf("the page threw: %q", errs)
		}
	})
}

func (s *site) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	if err := chromedp.Do(s.ctx, actions...); err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
}

// wait waits until a JavaScript expression is true on the page.
func (s *site) wait(what, expr string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !eval[bool](s.t, s.ctx, `(() => { try { return !!(`+expr+`); } catch (e) { return false; } })()`) {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for %s (%s); status line %q; page errors %q; dialog %q", what, expr,
				eval[string](s.t, s.ctx, `document.getElementById('status-line').textContent`),
				eval[[]string](s.t, s.ctx, `window.pageErrors || []`),
				eval[string](s.t, s.ctx, `(() => { const d = document.querySelector('dialog[open]'); return d ? d.innerText : 'none open'; })()`))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// artifacts is the folder for screenshots: $TONEARM_ARTIFACTS, else a
// temporary one.
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TONEARM_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shoot saves the page at 390 and 1280 px wide as console-WIDTH-STATE.png,
// and checks that at 390 px nothing scrolls sideways and text has enough
// contrast.
func (s *site) shoot(state string) {
	s.t.Helper()
	shoot(s.t, s.ctx, s.shots, state)
}

func shoot(t *testing.T, ctx context.Context, dir, state string) {
	t.Helper()
	for _, w := range []int64{390, 1280} {
		h := int64(844)
		if w > 390 {
			h = 900
		}
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(w, h),
			chromedp.Sleep(150*time.Millisecond)); err != nil { // let layout settle after the resize (a picture only)
			t.Fatalf("resize for %s: %v", state, err)
		}
		// With a dialog open the picture is the screen the reader sees;
		// otherwise the whole page.
		shot := chromedp.FullScreenshot(100)
		eval[bool](t, ctx, `(window.scrollTo(0, 0), true)`) // the sticky header at the top
		if eval[bool](t, ctx, `!!document.querySelector('dialog[open]')`) {
			shot = chromedp.CaptureScreenshot()
		}
		png, err := chromedp.Run(ctx, shot)
		if err != nil {
			t.Fatalf("screenshot %s: %v", state, err)
		}
		if w == 390 {
			if sw := eval[int](t, ctx, `document.documentElement.scrollWidth`); sw > 390 {
				t.Errorf("%s: the page is %d px wide at 390 px: it scrolls sideways", state, sw)
			}
			if low := eval[[]string](t, ctx, contrastJS); len(low) > 0 {
				t.Errorf("%s: text below 4.5:1 contrast: %q", state, low)
			}
		}
		name := fmt.Sprintf("console-%d-%s.png", w, state)
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// contrastJS lists the visible text whose colour against its background
// is below 4.5:1 (WCAG 2 AA for body text); disabled controls are exempt.
const contrastJS = `(() => {
  const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const low = [];
  for (const e of document.querySelectorAll("body *")) {
    if (e.tagName === "OPTION" || e.getClientRects().length === 0) continue;
    if (!Array.from(e.childNodes).some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
    if (e.closest(":disabled")) continue;
    const st = getComputedStyle(e);
    if (st.visibility === "hidden") continue;
    let bg = null;
    for (let x = e; x && !bg; x = x.parentElement) {
      const c = rgb(getComputedStyle(x).backgroundColor);
      if (c.length >= 3 && (c.length === 3 || c[3] > 0)) bg = c;
    }
    if (!bg) bg = [255, 255, 255];
    const a = lum(rgb(st.color)), b = lum(bg);
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(e.tagName.toLowerCase() + "." + e.className + " " + JSON.stringify(e.textContent.trim().slice(0, 30)) + " " + ratio.toFixed(2));
  }
  return low;
})()`

// scheme emulates the reader's preferred colour scheme.
func (s *site) scheme(v string) {
	s.t.Helper()
	_, err := chromedp.Call(s.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}}})
	if err != nil {
		s.t.Fatal(err)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func card(list, id string) string { return `#` + list + ` li[data-client="` + id + `"]` }

func q(sel string) string { return `document.querySelector(` + strconv.Quote(sel) + `)` }

// TestConsoleProduct walks the console page as an operator: newcomers and
// known devices, approval, pairing by code with a wrong code first,
// cancelling, groups, playing, with screenshots of each state at both
// widths.
func TestConsoleProduct(t *testing.T) {
	s := newSite(t, "Living room server")
	kitchen, kitchenCodes := s.player("Kitchen", player.CodeDynamic, false)
	guest, _ := s.player(`<img src=x onerror="document.title='pwned'">Guest`, player.CodeOff, true)
	bedroom, bedroomCodes := s.player("Bedroom", player.CodeDynamic, false)
	kid, gid, bid := kitchen.ID().String(), guest.ID().String(), bedroom.ID().String()
	// Attic lost the pairing the server still holds: a known device that
	// needs re-pairing.
	attic, _ := s.playerWith("Attic", player.CodeDynamic, false, func(pl *player.Player) {
		if err := s.st.PutClientRecord(pl.ID(), keys.PSK{7}); err != nil {
			t.Fatal(err)
		}
	})
	aid := attic.ID().String()

	s.open()
	for _, id := range []string{kid, gid, bid} {
		s.wait("a newcomer card", q(card("newcomers", id)))
	}
	if title := eval[string](t, s.ctx, `document.title`); title != "Tonearm — Living room server" {
		t.Fatalf("title %q", title)
	}
	// Newcomers are apart from known devices, badged, with a short ID,
	// and a hostile name is text.
	for _, id := range []string{kid, gid, bid} {
		badge := text(t, s.ctx, card("newcomers", id)+` .badge`)
		short := text(t, s.ctx, card("newcomers", id)+` .id code`)
		if badge != "not paired" || short != id[:8] {
			t.Fatalf("newcomer %s: badge %q, ID %q", id, badge, short)
		}
	}
	s.wait("Attic among the known devices", q(card("devices", aid)+` .badge.alert`))
	if b := text(t, s.ctx, card("devices", aid)+` .badge.alert`); b != "needs re-pairing" {
		t.Fatalf("Attic's badge %q", b)
	}
	if eval[bool](t, s.ctx, `!!`+q(card("devices", aid)+` .badge.trusted`)) || !eval[bool](t, s.ctx, `!!`+q(card("devices", aid)+` button[data-action="pair"]`)) {
		t.Fatal("Attic is shown trusted, or without a way to pair it again")
	}
	if n := eval[int](t, s.ctx, `document.querySelectorAll('#devices li').length`); n != 1 {
		t.Fatalf("%d known devices before any was paired or approved, besides Attic", n-1)
	}
	if name := text(t, s.ctx, card("newcomers", gid)+` .name`); !strings.HasPrefix(name, "<img") {
		t.Fatalf("hostile name shown as %q", name)
	}
	if imgs, title := eval[int](t, s.ctx, `document.querySelectorAll('img').length`), eval[string](t, s.ctx, `document.title`); imgs != 0 || title == "pwned" {
		t.Fatalf("a device's name became markup: %d img, title %q", imgs, title)
	}
	// A refusal list the server has is shown; one it has not is absent.
	resp, err := http.Get(s.web.URL + "/api/refusals")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		s.wait("no refusals section", q("#refusals-section")+`.hidden`)
	} else {
		s.wait("the refusals section", `!`+q("#refusals-section")+`.hidden`)
	}
	s.shoot("newcomer")
	s.scheme("dark")
	s.shoot("newcomer-dark")
	s.scheme("light")

	// Approve the guest (it allows unpaired access): it moves to the
	// known devices, approved, and the status line says so.
	s.run("approve", chromedp.EmulateViewport(390, 844), chromedp.Click(css(card("newcomers", gid)+` button[data-action="approve"]`)))
	s.wait("the guest among the known devices", q(card("devices", gid)+` .badge.approved`))
	s.wait("the approval reported", `document.getElementById('status-line').textContent.includes('approved')`)
	if eval[bool](t, s.ctx, `!!`+q(card("newcomers", gid))) {
		t.Fatal("the approved guest is still listed as a newcomer")
	}

	// Pair Kitchen by the code it shows: a wrong code first.
	s.run("open the pairing dialog", chromedp.Click(css(card("newcomers", kid)+` button[data-action="pair"]`)))
	s.wait("the dialog", q("#pair-dialog")+`.open`)
	if m := eval[string](t, s.ctx, `document.querySelector('input[name="pair-method"]:checked').value`); m != "dynamic_pairing_code" {
		t.Fatalf("preferred method %q", m)
	}
	if n := eval[int](t, s.ctx, `document.querySelectorAll('#code-slots input').length`); n != 6 {
		t.Fatalf("%d code slots for a dynamic code", n)
	}
	s.run("start pairing", chromedp.Click(css(`#pair-go`)))
	var code string
	select {
	case code = <-kitchenCodes:
	case <-time.After(10 * time.Second):
		t.Fatal("Kitchen showed no code")
	}
	s.wait("the code slots enabled", `!`+q("#code-slots input")+`.disabled`)
	s.shoot("pair-code")
	wrong := []byte(strings.ReplaceAll(code, "-", ""))
	wrong[0] = '0' + (wrong[0]-'0'+1)%10
	s.run("type a wrong code", chromedp.SendKeys(css(`#code-slots input`), string(wrong[:3])+"-"+string(wrong[3:])))
	if got := eval[string](t, s.ctx, `Array.from(document.querySelectorAll('#code-slots input')).map(s => s.value).join('')`); got != string(wrong) {
		t.Fatalf("the slots hold %q after typing %q", got, wrong)
	}
	// Backspace goes back across the slots; typing goes on from there.
	slotsNow := `Array.from(document.querySelectorAll('#code-slots input')).map(s => s.value).join('')`
	s.run("two backspaces", chromedp.KeyEvent("\b\b"))
	if got := eval[string](t, s.ctx, slotsNow); got != string(wrong[:4]) {
		t.Fatalf("the slots hold %q after two backspaces", got)
	}
	s.run("retype", chromedp.KeyEvent(string(wrong[4:])))
	if got := eval[string](t, s.ctx, slotsNow); got != string(wrong) {
		t.Fatalf("the slots hold %q after retyping", got)
	}
	s.run("enter it", chromedp.Click(css(`#pair-go`)))
	s.wait("wrong code, round 2 of 20",
		`document.getElementById('pair-progress').textContent.includes('wrong code') && document.getElementById('pair-progress').textContent.includes('round 2 of 20')`)
	s.shoot("pair-wrong-code")
	// The right code, pasted whole (the slots take it with its hyphen).
	eval[bool](t, s.ctx, `(() => {
		const s = document.querySelector('#code-slots input');
		const dt = new DataTransfer(); dt.setData('text', `+strconv.Quote(code)+`);
		s.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));
		return true;
	})()`)
	if got := eval[string](t, s.ctx, `Array.from(document.querySelectorAll('#code-slots input')).map(s => s.value).join('')`); got != strings.ReplaceAll(code, "-", "") {
		t.Fatalf("the slots hold %q after pasting %q", got, code)
	}
	s.run("enter it", chromedp.Click(css(`#pair-go`)))
	s.wait("paired in the dialog", `document.getElementById('pair-progress').textContent.toLowerCase().includes('paired with kitchen')`)
	s.wait("Kitchen among the known devices", q(card("devices", kid)+` .badge.trusted`))
	waitFor(t, "Kitchen paired", func() bool { return kitchen.Status().Paired })
	s.shoot("paired")
	s.run("close the dialog", chromedp.KeyEvent("\x1b"))
	s.wait("the dialog closed", `!`+q("#pair-dialog")+`.open`)

	// Cancel a running attempt with Esc.
	// By keyboard alone: Enter on the device's Pair button, Tab from the
	// method to the start button, Enter.
	eval[bool](t, s.ctx, `(`+q(card("newcomers", bid)+` button[data-action="pair"]`)+`.focus(), true)`)
	s.run("open Bedroom's dialog by keyboard", chromedp.KeyEvent("\r"))
	s.wait("the dialog", q("#pair-dialog")+`.open`)
	if id := eval[string](t, s.ctx, `document.activeElement.id`); id != "pm-dynamic_pairing_code" {
		t.Fatalf("the dialog opened with the focus on %q, not the method", id)
	}
	s.run("Tab", chromedp.KeyEvent("\t"))
	if id := eval[string](t, s.ctx, `document.activeElement.id`); id != "pair-go" {
		t.Fatalf("Tab from the method went to %q, not the start button", id)
	}
	s.run("start pairing by keyboard", chromedp.KeyEvent("\r"))
	select {
	case <-bedroomCodes:
	case <-time.After(10 * time.Second):
		t.Fatal("Bedroom showed no code")
	}
	waitFor(t, "the server waiting for Bedroom's code", func() bool { return s.srv.PairingState(bedroom.ID()).Phase == server.PairingAwaitingCode })
	s.wait("waiting for the code", `document.getElementById('pair-progress').textContent.includes('enter the code Bedroom')`)
	s.run("Esc", chromedp.KeyEvent("\x1b"))
	s.wait("the dialog closed", `!`+q("#pair-dialog")+`.open`)
	waitFor(t, "the attempt cancelled", func() bool { return s.srv.PairingState(bedroom.ID()).Last == server.OutcomeCancelled })
	s.wait("the cancel reported", `document.getElementById('status-line').textContent.includes('cancel')`)
	if bedroom.Status().Paired {
		t.Fatal("Bedroom paired after cancelling")
	}
	// Then pair Bedroom by its token, chosen in the dialog.
	s.run("open Bedroom's dialog", chromedp.Click(css(card("newcomers", bid)+` button[data-action="pair"]`)))
	s.wait("the dialog", q("#pair-dialog")+`.open`)
	s.run("choose the token", chromedp.Click(css(`#pm-pairing_psk`)))
	s.wait("the token field", `!`+q("#pair-token-panel")+`.hidden && `+q("#pair-code-panel")+`.hidden`)
	s.run("paste the token", chromedp.SendKeys(css(`#pair-token`), bedroom.Token()), chromedp.Click(css(`#pair-go`)))
	s.wait("Bedroom paired in the dialog", `document.getElementById('pair-progress').textContent.toLowerCase().includes('paired with bedroom')`)
	waitFor(t, "Bedroom paired", func() bool { return bedroom.Status().Paired })
	s.run("close the dialog", chromedp.Click(css(`#pair-cancel`)))
	s.wait("the dialog closed", `!`+q("#pair-dialog")+`.open`)

	// Pair Porch by its static code, typed up front: the device holds
	// the attempt back until its pairing window opens, and says so.
	porch, _ := s.player("Porch", player.CodeStatic, false)
	pid := porch.ID().String()
	static, err := s.stores[porch].StaticCode(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.wait("Porch", q(card("newcomers", pid)))
	s.run("open Porch's dialog", chromedp.Click(css(card("newcomers", pid)+` button[data-action="pair"]`)))
	s.wait("the dialog", q("#pair-dialog")+`.open`)
	if m := eval[string](t, s.ctx, `document.querySelector('input[name="pair-method"]:checked').value`); m != "static_pairing_code" {
		t.Fatalf("method %q for a static-code device", m)
	}
	if n := eval[int](t, s.ctx, `document.querySelectorAll('#code-slots input').length`); n != 8 {
		t.Fatalf("%d code slots for a static code", n)
	}
	s.run("type the static code", chromedp.SendKeys(css(`#code-slots input`), static.Digits()), chromedp.Click(css(`#pair-go`)))
	s.wait("the device's message", `!`+q("#pair-says")+`.hidden && `+q("#pair-says-text")+`.textContent.length > 0`)
	says := text(t, s.ctx, `#pair-says-text`)
	if ps := s.srv.PairingState(porch.ID()); ps.Message == "" || says != ps.Message {
		t.Fatalf("the dialog shows %q; the device said %q", says, ps.Message)
	}
	s.shoot("pair-held-back")
	if err := porch.OpenPairingWindow(); err != nil {
		t.Fatal(err)
	}
	s.wait("Porch paired in the dialog", `document.getElementById('pair-progress').textContent.toLowerCase().includes('paired with porch')`)
	waitFor(t, "Porch paired", func() bool { return porch.Status().Paired })
	s.run("close the dialog", chromedp.Click(css(`#pair-cancel`)))
	s.wait("the dialog closed", `!`+q("#pair-dialog")+`.open`)

	// Groups: create, rename, move Kitchen into it, play there.
	s.run("create a group", chromedp.SendKeys(css(`#group-create-name`), "Patio"), chromedp.Click(css(`#group-create-button`)))
	s.wait("the new group", `Array.from(document.querySelectorAll('#groups li .name')).some(e => e.textContent === 'Patio')`)
	if v := eval[string](t, s.ctx, `document.getElementById('group-create-name').value`); v != "" {
		t.Fatalf("the name field kept %q after the group was created", v)
	}
	gidOf := func(name string) string {
		for _, g := range s.srv.Groups() {
			if g.Name == name {
				return g.ID
			}
		}
		t.Fatalf("no group %q on the server", name)
		return ""
	}
	patio := gidOf("Patio")
	s.run("rename it", chromedp.Click(css(`#groups li[data-group="`+patio+`"] button[data-action="rename"]`)))
	s.wait("the rename dialog", q("#rename-dialog")+`.open`)
	if !eval[bool](t, s.ctx, q("#rename-input")+`.value === 'Patio' && (`+q("#rename-input")+`.value = '') === ''`) {
		t.Fatal("the rename field did not start with the group's name")
	}
	s.run("type the name", chromedp.SendKeys(css(`#rename-input`), "Garden\r"))
	s.wait("the renamed group", q(`#groups li[data-group="`+patio+`"] .name`)+`.textContent === 'Garden'`)
	if gidOf("Garden") != patio {
		t.Fatal("the server has no group Garden")
	}
	sel := card("devices", kid) + ` select`
	s.wait("Kitchen's group menu", q(sel))
	eval[bool](t, s.ctx, `(() => { const s = `+q(sel)+`; s.focus(); s.value = '`+patio+`';
		s.dispatchEvent(new Event('change')); s.blur(); return true; })()`)
	waitFor(t, "Kitchen in Garden", func() bool { g, _ := s.srv.GroupOf(kitchen.ID()); return g.ID == patio })
	s.wait("Kitchen listed in Garden", q(`#groups li[data-group="`+patio+`"] .members`)+`.textContent.includes('Kitchen')`)
	s.shoot("groups")

	// Play to Garden; a bad source is refused in words, and the field keeps it.
	src := `#src-` + patio
	s.run("a bad source", chromedp.SendKeys(css(src), "nope"), chromedp.Click(css(`#groups li[data-group="`+patio+`"] button[data-action="play"]`)))
	s.wait("the refusal", `document.getElementById('status-line').classList.contains('err') && document.getElementById('status-line').textContent.includes('nope')`)
	if v := eval[string](t, s.ctx, q(src)+`.value`); v != "nope" {
		t.Fatalf("the source field holds %q after a refusal", v)
	}
	eval[string](t, s.ctx, q(src)+`.value = ''`)
	s.run("play a tone", chromedp.SendKeys(css(src), "tone"),
		chromedp.Click(css(`#groups li[data-group="`+patio+`"] button[data-action="play"]`)))
	s.wait("Garden playing", q(`#groups li[data-group="`+patio+`"] .badge.on`))
	s.wait("Kitchen playing", q(card("devices", kid)+` .plays`)+`.textContent.startsWith('Playing')`)
	s.wait("Kitchen's live figures", `!`+q(card("devices", kid)+` dl.stats`)+`.hidden`)
	// Now playing: the track the server names (not the source), and the
	// position when the server gives one.
	var gl struct {
		Groups []struct {
			ID         string `json:"id"`
			Track      string `json:"track"`
			PositionMS *int64 `json:"position_ms"`
		} `json:"groups"`
	}
	getJSON(t, s.web.URL+"/api/groups", &gl)
	for _, g := range gl.Groups {
		if g.ID != patio {
			continue
		}
		if g.Track == "" {
			t.Fatal("the server names no track for the playing group")
		}
		s.wait("the track shown", q(`#groups li[data-group="`+patio+`"] .track`)+`.textContent === `+strconv.Quote(g.Track))
		s.wait("Kitchen playing the track", q(card("devices", kid)+` .plays`)+`.textContent === `+strconv.Quote("Playing "+g.Track))
		if g.PositionMS != nil {
			s.wait("the position shown", `/^\d+:\d\d/.test(`+q(`#groups li[data-group="`+patio+`"] .position`)+`.textContent)`)
		}
	}
	s.shoot("playing")
	s.run("stop", chromedp.Click(css(`#groups li[data-group="`+patio+`"] button[data-action="stop"]`)))
	s.wait("Garden stopped", q(`#groups li[data-group="`+patio+`"] .badge.idle`))
	waitFor(t, "the server stopped Garden", func() bool {
		for _, g := range s.srv.Groups() {
			if g.ID == patio {
				return !g.Playing
			}
		}
		return false
	})
}

// TestConsoleRefusals: a client the server refuses (its client/init asks
// for a protocol version the server does not speak) is listed on the page
// with the reason the server gives. A server without the refusal list
// (GET /api/refusals answers 404) shows no such section.
func TestConsoleRefusals(t *testing.T) {
	s := newSite(t, "Refusing server")
	tr, err := securechan.Dial(context.Background(), "ws"+strings.TrimPrefix(s.sendspin.URL, "http")+"/sendspin")
	if err != nil {
		t.Fatal(err)
	}
	id, err := keys.GenerateIdentity(nil)
	if err != nil {
		t.Fatal(err)
	}
	init := fmt.Sprintf(`{"type":"client/init","payload":{"client_id":%q,"version":2,"suite":"%s"}}`, id.Public().String(), keys.SuiteChaChaPoly)
	if err := tr.WriteFrame(securechan.Text, []byte(init)); err != nil {
		t.Fatal(err)
	}
	if _, f, err := tr.ReadFrame(nil); err != nil || !strings.Contains(string(f), "unsupported_version") {
		t.Fatalf("server/error: %q %v", f, err)
	}
	tr.Close()

	resp, err := http.Get(s.web.URL + "/api/refusals")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s.open()
	s.wait("the page live", `document.getElementById('live').dataset.state === 'on' && document.querySelectorAll('#groups > li').length > 0`)
	if resp.StatusCode == http.StatusNotFound {
		if !eval[bool](t, s.ctx, q("#refusals-section")+`.hidden`) {
			t.Fatal("a refusals section on a server without the refusal list")
		}
		return
	}
	var list struct {
		Refusals []struct {
			Client string `json:"client"`
			Reason string `json:"reason"`
		} `json:"refusals"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(list.Refusals) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server lists no refusal")
		}
		time.Sleep(50 * time.Millisecond)
		getJSON(t, s.web.URL+"/api/refusals", &list)
	}
	r := list.Refusals[0]
	if r.Reason == "" {
		t.Fatalf("refusal without a reason: %+v", r)
	}
	s.run("refresh the list", chromedp.Click(css(`#refusals-refresh`)))
	s.wait("the refusal listed", `Array.from(document.querySelectorAll('#refusals li .why')).some(e => e.textContent.startsWith(`+strconv.Quote(r.Reason)+`))`)
	if r.Client != "" {
		s.wait("its client's short ID", `Array.from(document.querySelectorAll('#refusals li code')).some(e => e.textContent.trim() === `+strconv.Quote(r.Client[:8])+`)`)
	}
	s.shoot("refusals")
}
