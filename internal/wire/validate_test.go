package wire

import (
	"errors"
	"strings"
	"testing"
)

func env(t Type, payload string) []byte {
	return []byte(`{"type":"` + string(t) + `","payload":` + payload + `}`)
}

const (
	b64key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" // 32 bytes 00..1f
	b64tag = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw"
	b64wrp = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
	okFmt  = `{"codec":"pcm","channels":2,"sample_rate":48000,"bit_depth":16}`
	okPSt  = `{"output_delay_ms":0,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":[]}`
)

// TestEnvelopeRules covers the envelope: valid UTF-8 JSON object with a type
// string and a payload object, exact keys, no duplicates.
func TestEnvelopeRules(t *testing.T) {
	cases := []struct {
		name string
		in   string
		rule Rule
	}{
		{"empty", ``, RuleSyntax},
		{"not json", `{"type":`, RuleSyntax},
		{"trailing garbage", `{"type":"client/leave","payload":{}} x`, RuleSyntax},
		{"invalid utf8", "{\"type\":\"client/leave\",\"payload\":{\"x\":\"\xff\"}}", RuleSyntax},
		{"array", `[]`, RuleNotObject},
		{"string", `"client/leave"`, RuleNotObject},
		{"no type", `{"payload":{}}`, RuleRequired},
		{"type not string", `{"type":5,"payload":{}}`, RuleType},
		{"no payload", `{"type":"client/leave"}`, RuleRequired},
		{"payload array", `{"type":"client/leave","payload":[]}`, RuleNotObject},
		{"payload null", `{"type":"client/leave","payload":null}`, RuleNotObject},
		{"duplicate type", `{"type":"client/leave","type":"client/time","payload":{}}`, RuleDuplicateKey},
		{"duplicate payload key", `{"type":"client/time","payload":{"client_transmitted":1,"client_transmitted":2}}`, RuleDuplicateKey},
		{"escaped duplicate", `{"type":"client/time","payload":{"client_transmitted":1,"client_transmitte\u0064":2}}`, RuleDuplicateKey},
		{"case differs is not the key", `{"Type":"client/leave","payload":{}}`, RuleRequired},
		{"wrong direction", `{"type":"server/hello","payload":{"name":"x"}}`, RuleDirection},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode([]byte(c.in), FromClient)
			if got := RuleOf(err); got != c.rule {
				t.Fatalf("rule %v (%v), want %v", got, err, c.rule)
			}
		})
	}
}

// TestForwardCompatibility covers messaging.md "Forward compatibility".
func TestForwardCompatibility(t *testing.T) {
	// An unknown type in a valid envelope is kept, not an error.
	m, err := Decode([]byte(`{"type":"client/future","payload":{"a":[1,{"b":2}]}}`), FromClient)
	if err != nil {
		t.Fatal(err)
	}
	u, ok := m.(*Unknown)
	if !ok || u.Name != "client/future" || string(u.Payload) != `{"a":[1,{"b":2}]}` {
		t.Fatalf("got %#v", m)
	}
	// Unknown payload fields are ignored, at every level.
	m, err = Decode(env(TypeClientState, `{"available":true,"future":1,"player":{"output_delay_ms":5,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":[],"new_field":{"x":1}}}`), FromClient)
	if err != nil {
		t.Fatal(err)
	}
	if cs := m.(*ClientState); !cs.Available || cs.Player.OutputDelayMS != 5 || cs.Ext != nil {
		t.Fatalf("got %#v", cs)
	}
	// "_" objects are preserved, raw.
	m, err = Decode(env(TypeServerCommand, `{"_acme":{"k":[true]},"_b":1}`), FromServer)
	if err != nil {
		t.Fatal(err)
	}
	if sc := m.(*ServerCommand); string(sc.Ext["_acme"]) != `{"k":[true]}` || string(sc.Ext["_b"]) != `1` {
		t.Fatalf("ext %q", sc.Ext)
	}
	// Unknown support objects in client/hello are kept for the driver.
	m, err = Decode(env(TypeClientHello, `{"name":"n","supported_roles":["player@v2"],"player@v2_support":{"x":1},"supported_pair_methods":{"pairing_psk":{},"qr_psk_v2":{"anything":[]}},"unpaired_access":{"enabled":false}}`), FromClient)
	if err != nil {
		t.Fatal(err)
	}
	ch := m.(*ClientHello)
	if string(ch.OtherSupport["player@v2_support"]) != `{"x":1}` || len(ch.PairMethods.Ignored) != 1 || ch.PairMethods.Ignored[0] != "qr_psk_v2" {
		t.Fatalf("got %#v", ch)
	}
	// Marshal never emits a field the spec does not define.
	if _, err := Marshal(&ClientState{Available: true, Ext: map[string][]byte{"not_app": []byte(`{}`)}}); RuleOf(err) != RuleForbidden {
		t.Fatalf("non-underscore ext marshalled: %v", err)
	}
	if _, err := Marshal(&ClientHello{Name: "x", SupportedRoles: []Role{}, OtherSupport: map[string][]byte{"player@v2_support": []byte(`{}`)},
		PairMethods: PairMethods{PairingPSK: &StaticMethod{}}}); RuleOf(err) != RuleForbidden {
		t.Fatalf("support object of a spec role version marshalled: %v", err)
	}
}

// TestValidation is the table of every field rule, one failure per row.
func TestValidation(t *testing.T) {
	cases := []struct {
		name  string
		from  Sender
		msg   []byte
		field string
		rule  Rule
	}{
		// client/init, server/init, noise/handshake, server/error
		{"init version string", FromClient, env(TypeClientInit, `{"client_id":"`+b64key+`","version":"1","suite":"25519_AESGCM_SHA256"}`), "version", RuleType},
		{"init version float", FromClient, env(TypeClientInit, `{"client_id":"`+b64key+`","version":1.0,"suite":"25519_AESGCM_SHA256"}`), "version", RuleType},
		{"init version 2", FromClient, env(TypeClientInit, `{"client_id":"`+b64key+`","version":2,"suite":"25519_AESGCM_SHA256"}`), "version", RuleRange},
		{"init suite unknown", FromClient, env(TypeClientInit, `{"client_id":"`+b64key+`","version":1,"suite":"25519_Foo_SHA256"}`), "suite", RuleEnum},
		{"init id short", FromClient, env(TypeClientInit, `{"client_id":"AAEC","version":1,"suite":"25519_AESGCM_SHA256"}`), "client_id", RuleLength},
		{"init id padded", FromClient, env(TypeClientInit, `{"client_id":"`+b64key[:42]+`=","version":1,"suite":"25519_AESGCM_SHA256"}`), "client_id", RuleEncoding},
		{"init id std alphabet", FromClient, env(TypeClientInit, `{"client_id":"`+b64key[:41]+`+/","version":1,"suite":"25519_AESGCM_SHA256"}`), "client_id", RuleEncoding},
		{"server init no id", FromServer, env(TypeServerInit, `{"version":1}`), "server_id", RuleRequired},
		{"handshake empty", FromServer, env(TypeNoiseHandshake, `{"data":""}`), "data", RuleLength},
		{"handshake not b64", FromServer, env(TypeNoiseHandshake, `{"data":"a=="}`), "data", RuleEncoding},
		{"handshake missing", FromClient, env(TypeNoiseHandshake, `{}`), "data", RuleRequired},
		{"error reason", FromServer, env(TypeServerError, `{"reason":"busy"}`), "reason", RuleEnum},
		// server/hello, client/hello
		{"hello name missing", FromServer, env(TypeServerHello, `{}`), "name", RuleRequired},
		{"hello languages empty", FromServer, env(TypeServerHello, `{"name":"s","languages":[]}`), "languages", RuleEmpty},
		{"hello languages type", FromServer, env(TypeServerHello, `{"name":"s","languages":["en",1]}`), "languages[1]", RuleType},
		{"hello source codecs empty", FromServer, env(TypeServerHello, `{"name":"s","source@v1_support":{"supported_codecs":[]}}`), "source@v1_support.supported_codecs", RuleEmpty},
		{"client hello roles missing", FromClient, env(TypeClientHello, `{"name":"c","supported_pair_methods":{},"unpaired_access":{"enabled":true}}`), "supported_roles", RuleRequired},
		{"client hello methods missing", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":[],"unpaired_access":{"enabled":true}}`), "supported_pair_methods", RuleRequired},
		{"client hello access missing", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":[],"supported_pair_methods":{}}`), "unpaired_access", RuleRequired},
		{"client hello access enabled missing", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":[],"supported_pair_methods":{},"unpaired_access":{}}`), "unpaired_access.enabled", RuleRequired},
		{"client hello dynamic formats missing", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":[],"supported_pair_methods":{"dynamic_pairing_code":{"out_channels":["display"]}},"unpaired_access":{"enabled":true}}`), "supported_pair_methods.dynamic_pairing_code.formats", RuleRequired},
		{"client hello locations type", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":[],"supported_pair_methods":{"pairing_psk":{"locations":"device"}},"unpaired_access":{"enabled":true}}`), "supported_pair_methods.pairing_psk.locations", RuleType},
		{"player support formats empty", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":["player@v1"],"player@v1_support":{"supported_formats":[],"buffer_capacity":1},"supported_pair_methods":{},"unpaired_access":{"enabled":true}}`), "player@v1_support.supported_formats", RuleEmpty},
		{"player support capacity zero", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":["player@v1"],"player@v1_support":{"supported_formats":[`+okFmt+`],"buffer_capacity":0},"supported_pair_methods":{},"unpaired_access":{"enabled":true}}`), "player@v1_support.buffer_capacity", RuleRange},
		{"player support channels zero", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":["player@v1"],"player@v1_support":{"supported_formats":[{"codec":"pcm","channels":0,"sample_rate":48000,"bit_depth":16}],"buffer_capacity":1},"supported_pair_methods":{},"unpaired_access":{"enabled":true}}`), "player@v1_support.supported_formats[0].channels", RuleRange},
		{"visualizer support capacity", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":[],"visualizer@v1_support":{},"supported_pair_methods":{},"unpaired_access":{"enabled":true}}`), "visualizer@v1_support.buffer_capacity", RuleRequired},
		// server/activate
		{"activate activities missing", FromServer, env(TypeServerActivate, `{}`), "activities", RuleRequired},
		{"activate activities duplicate", FromServer, env(TypeServerActivate, `{"activities":["playback","playback"]}`), "activities", RuleUnique},
		{"activate roles type", FromServer, env(TypeServerActivate, `{"activities":[],"active_roles":"player@v1"}`), "active_roles", RuleType},
		{"activate pairing not an object", FromServer, env(TypeServerActivate, `{"activities":["pairing"],"pairing":[]}`), "pairing", RuleNotObject},
		{"activate method type", FromServer, env(TypeServerActivate, `{"activities":["pairing"],"pairing":{"method":1}}`), "pairing.method", RuleType},
		// time
		{"time missing", FromClient, env(TypeClientTime, `{}`), "client_transmitted", RuleRequired},
		{"time float", FromClient, env(TypeClientTime, `{"client_transmitted":1.5}`), "client_transmitted", RuleType},
		{"time exponent", FromClient, env(TypeClientTime, `{"client_transmitted":1e3}`), "client_transmitted", RuleType},
		{"time overflow", FromClient, env(TypeClientTime, `{"client_transmitted":9223372036854775808}`), "client_transmitted", RuleRange},
		{"time null", FromClient, env(TypeClientTime, `{"client_transmitted":null}`), "client_transmitted", RuleType},
		{"server time partial", FromServer, env(TypeServerTime, `{"client_transmitted":1,"server_received":2}`), "server_transmitted", RuleRequired},
		// client/state
		{"state available missing", FromClient, env(TypeClientState, `{}`), "available", RuleRequired},
		{"state available type", FromClient, env(TypeClientState, `{"available":1}`), "available", RuleType},
		{"player volume range", FromClient, env(TypeClientState, `{"available":true,"player":{"volume":101,"output_delay_ms":0,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":[]}}`), "player.volume", RuleRange},
		{"player delay range", FromClient, env(TypeClientState, `{"available":true,"player":{"output_delay_ms":5001,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":[]}}`), "player.output_delay_ms", RuleRange},
		{"player delay negative", FromClient, env(TypeClientState, `{"available":true,"player":{"output_delay_ms":-1,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":[]}}`), "player.output_delay_ms", RuleRange},
		{"player lead negative", FromClient, env(TypeClientState, `{"available":true,"player":{"output_delay_ms":0,"required_lead_time_ms":-1,"min_buffer_ms":0,"supported_commands":[]}}`), "player.required_lead_time_ms", RuleRange},
		{"player commands missing", FromClient, env(TypeClientState, `{"available":true,"player":{"output_delay_ms":0,"required_lead_time_ms":0,"min_buffer_ms":0}}`), "player.supported_commands", RuleRequired},
		{"player volume required", FromClient, env(TypeClientState, `{"available":true,"player":{"output_delay_ms":0,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":["volume"]}}`), "player.volume", RuleRequired},
		{"player muted required", FromClient, env(TypeClientState, `{"available":true,"player":{"volume":1,"output_delay_ms":0,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":["volume","mute"]}}`), "player.muted", RuleRequired},
		{"player format bit depth", FromClient, env(TypeClientState, `{"available":true,"player":{"output_delay_ms":0,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":[],"format":{"codec":"pcm","channels":2,"sample_rate":48000}}}`), "player.format.bit_depth", RuleRequired},
		{"source signal", FromClient, env(TypeClientState, `{"available":true,"source":{"signal":"maybe"}}`), "source.signal", RuleEnum},
		{"artwork too many channels", FromClient, env(TypeClientState, `{"available":true,"artwork":{"channels":[{"source":"none"},{"source":"none"},{"source":"none"},{"source":"none"},{"source":"none"}]}}`), "artwork.channels", RuleLength},
		{"artwork no channels", FromClient, env(TypeClientState, `{"available":true,"artwork":{"channels":[]}}`), "artwork.channels", RuleLength},
		{"artwork source", FromClient, env(TypeClientState, `{"available":true,"artwork":{"channels":[{"source":"cover"}]}}`), "artwork.channels[0].source", RuleEnum},
		{"artwork width required", FromClient, env(TypeClientState, `{"available":true,"artwork":{"channels":[{"source":"album","format":"png","height":4}]}}`), "artwork.channels[0].width", RuleRequired},
		{"artwork format", FromClient, env(TypeClientState, `{"available":true,"artwork":{"channels":[{"source":"album","format":"gif","width":4,"height":4}]}}`), "artwork.channels[0].format", RuleEnum},
		{"visualizer spectrum required", FromClient, env(TypeClientState, `{"available":true,"visualizer":{"types":["spectrum"],"rate_max":30}}`), "visualizer.spectrum", RuleRequired},
		{"visualizer rate zero", FromClient, env(TypeClientState, `{"available":true,"visualizer":{"types":[],"rate_max":0}}`), "visualizer.rate_max", RuleRange},
		{"visualizer types duplicate", FromClient, env(TypeClientState, `{"available":true,"visualizer":{"types":["peak","peak"],"rate_max":1}}`), "visualizer.types", RuleUnique},
		{"visualizer scale", FromClient, env(TypeClientState, `{"available":true,"visualizer":{"types":["spectrum"],"rate_max":1,"spectrum":{"n_disp_bins":8,"scale":"bark","f_min":20,"f_max":200}}}`), "visualizer.spectrum.scale", RuleEnum},
		{"visualizer band", FromClient, env(TypeClientState, `{"available":true,"visualizer":{"types":["spectrum"],"rate_max":1,"spectrum":{"n_disp_bins":8,"scale":"mel","f_min":200,"f_max":200}}}`), "visualizer.spectrum.f_max", RuleRange},
		// client/command, server/state, server/command
		{"controller volume missing", FromClient, env(TypeClientCommand, `{"controller":{"command":"volume"}}`), "controller.volume", RuleRequired},
		{"controller seek negative", FromClient, env(TypeClientCommand, `{"controller":{"command":"seek","position_ms":-1}}`), "controller.position_ms", RuleRange},
		{"controller offset missing", FromClient, env(TypeClientCommand, `{"controller":{"command":"seek_relative"}}`), "controller.offset_ms", RuleRequired},
		{"controller state repeat", FromServer, env(TypeServerState, `{"controller":{"supported_commands":[],"volume":1,"muted":false,"repeat":"forever","shuffle":false}}`), "controller.repeat", RuleEnum},
		{"controller state seek max", FromServer, env(TypeServerState, `{"controller":{"supported_commands":["seek"],"volume":1,"muted":false,"repeat":"off","shuffle":false}}`), "controller.seek_max_ms", RuleRequired},
		{"metadata timestamp", FromServer, env(TypeServerState, `{"metadata":{"title":"t"}}`), "metadata.timestamp", RuleRequired},
		{"metadata title type", FromServer, env(TypeServerState, `{"metadata":{"timestamp":1,"title":null}}`), "metadata.title", RuleType},
		{"metadata progress", FromServer, env(TypeServerState, `{"metadata":{"timestamp":1,"progress":{"track_progress":1,"track_duration":2}}}`), "metadata.progress.playback_speed", RuleRequired},
		{"metadata track zero", FromServer, env(TypeServerState, `{"metadata":{"timestamp":1,"track":0}}`), "metadata.track", RuleRange},
		{"color length", FromServer, env(TypeServerState, `{"color":{"timestamp":1,"primary":[1,2]}}`), "color.primary", RuleLength},
		{"color range", FromServer, env(TypeServerState, `{"color":{"timestamp":1,"accent":[1,2,256]}}`), "color.accent[2]", RuleRange},
		{"player command volume", FromServer, env(TypeServerCommand, `{"player":{"command":"volume"}}`), "player.volume", RuleRequired},
		{"player command delay", FromServer, env(TypeServerCommand, `{"player":{"command":"set_output_delay","output_delay_ms":9000}}`), "player.output_delay_ms", RuleRange},
		{"source command", FromServer, env(TypeServerCommand, `{"source":{"command":"pause"}}`), "source.command", RuleEnum},
		// streams
		{"stream start transmitted", FromServer, env(TypeStreamStart, `{}`), "server_transmitted", RuleRequired},
		{"stream start codec", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"player":{"codec":"mp3","channels":2,"sample_rate":48000,"bit_depth":16}}`), "player.codec", RuleEnum},
		{"stream start flac header", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"player":{"codec":"flac","channels":2,"sample_rate":48000,"bit_depth":16}}`), "player.codec_header", RuleRequired},
		{"stream start header b64", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"player":{"codec":"flac","channels":2,"sample_rate":48000,"bit_depth":16,"codec_header":"ZkxhQw"}}`), "player.codec_header", RuleEncoding},
		{"stream start artwork 5", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"artwork":{"channels":[{"source":"none"},{"source":"none"},{"source":"none"},{"source":"none"},{"source":"none"}]}}`), "artwork.channels", RuleLength},
		{"stream start downbeats", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"visualizer":{"types":["beat"],"rate_max":1}}`), "visualizer.tracks_downbeats", RuleRequired},
		{"stream start vis unknown type", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"visualizer":{"types":["chroma"],"rate_max":1}}`), "visualizer.types[0]", RuleEnum},
		{"stream clear roles empty", FromServer, env(TypeStreamClear, `{"server_transmitted":1,"roles":[]}`), "roles", RuleEmpty},
		{"stream clear artwork", FromServer, env(TypeStreamClear, `{"server_transmitted":1,"roles":["artwork"]}`), "roles[0]", RuleEnum},
		{"stream clear duplicate", FromServer, env(TypeStreamClear, `{"server_transmitted":1,"roles":["player","player"]}`), "roles", RuleUnique},
		{"stream end bare underscore", FromServer, env(TypeStreamEnd, `{"roles":["_"]}`), "roles[0]", RuleEnum},
		{"stream end source", FromServer, env(TypeStreamEnd, `{"roles":["source"]}`), "roles[0]", RuleEnum},
		{"client stream start", FromClient, env(TypeClientStreamStart, `{}`), "source", RuleRequired},
		{"client stream start rate", FromClient, env(TypeClientStreamStart, `{"source":{"codec":"pcm","channels":1,"sample_rate":0,"bit_depth":16}}`), "source.sample_rate", RuleRange},
		// group, goodbye
		{"group state", FromServer, env(TypeGroupUpdate, `{"playback_state":"paused","group_id":"g","group_name":"n"}`), "playback_state", RuleEnum},
		{"group name", FromServer, env(TypeGroupUpdate, `{"playback_state":"stopped","group_id":"g"}`), "group_name", RuleRequired},
		{"goodbye reason", FromClient, env(TypeClientGoodbye, `{"reason":"xyzzy"}`), "reason", RuleEnum},
		{"goodbye missing", FromClient, env(TypeClientGoodbye, `{}`), "reason", RuleRequired},
		// pairing
		{"pending index missing", FromClient, env(TypeClientPairPending, `{}`), "pairing_index", RuleRequired},
		{"pending index negative", FromClient, env(TypeClientPairPending, `{"pairing_index":-1}`), "pairing_index", RuleRange},
		{"pending index too big", FromClient, env(TypeClientPairPending, `{"pairing_index":4294967296}`), "pairing_index", RuleRange},
		{"pending message type", FromClient, env(TypeClientPairPending, `{"pairing_index":1,"message":5}`), "message", RuleType},
		{"pair init commit length", FromClient, env(TypeClientPairInit, `{"pairing_index":1,"commit_B":"AAEC"}`), "commit_B", RuleLength},
		{"server pair init nonce", FromServer, env(TypeServerPairInit, `{"nonce_A":"`+b64key[:42]+`!"}`), "nonce_A", RuleEncoding},
		{"pair auth missing", FromServer, env(TypeServerPairAuth, `{}`), "pake_msg_1", RuleRequired},
		{"pair auth long", FromClient, env(TypeClientPairAuth, `{"pake_msg_2":"`+b64key+`A"}`), "pake_msg_2", RuleLength},
		{"confirm tag short", FromServer, env(TypeServerPairConfirm, `{"server_kc":"`+b64key+`"}`), "server_kc", RuleLength},
		{"client confirm wrapped", FromClient, env(TypeClientPairConfirm, `{"client_kc":"`+b64tag+`","wrapped_nonce_B":"`+b64key+`"}`), "wrapped_nonce_B", RuleLength},
		{"finalize neither", FromClient, env(TypeClientPairFinalize, `{}`), "long_term_psk", RuleRequired},
		{"finalize both", FromClient, env(TypeClientPairFinalize, `{"long_term_psk":"`+b64key+`","wrapped_psk":"`+b64wrp+`"}`), "wrapped_psk", RuleConflict},
		{"abort reason", FromClient, env(TypePairAbort, `{"reason":"nope"}`), "reason", RuleEnum},
		{"abort client reason from server", FromServer, env(TypePairAbort, `{"reason":"attempt_timeout"}`), "reason", RuleDirection},
		{"abort method reason from server", FromServer, env(TypePairAbort, `{"reason":"method_not_supported"}`), "reason", RuleDirection},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Decode(c.msg, c.from)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Decode(%s) = %v, want a wire error", c.msg, err)
			}
			if e.Field != c.field || e.Rule != c.rule {
				t.Fatalf("got field %q rule %v (%v), want %q %v", e.Field, e.Rule, err, c.field, c.rule)
			}
			if strings.Contains(e.Error(), "AAEC") || strings.Contains(e.Error(), "xyzzy") {
				t.Fatalf("error text echoes input: %v", e)
			}
		})
	}
}

// TestReceiverLeniency covers the fields whose receiver-side handling the
// spec defines: such values decode, and the layer above decides.
func TestReceiverLeniency(t *testing.T) {
	ok := []struct {
		name string
		from Sender
		msg  []byte
	}{
		{"unknown activity", FromServer, env(TypeServerActivate, `{"activities":["dancing"]}`)},
		{"unknown pairing method", FromServer, env(TypeServerActivate, `{"activities":["pairing"],"pairing":{"method":"telepathy"}}`)},
		{"unknown format", FromServer, env(TypeServerActivate, `{"activities":["pairing"],"pairing":{"method":"dynamic_pairing_code","format":"nfc"}}`)},
		{"pairing ignored without activity", FromServer, env(TypeServerActivate, `{"activities":["playback"],"pairing":"junk"}`)},
		{"format ignored for static", FromServer, env(TypeServerActivate, `{"activities":["pairing"],"pairing":{"method":"static_pairing_code","format":"digits"}}`)},
		{"pairing object missing", FromServer, env(TypeServerActivate, `{"activities":["pairing"]}`)},
		{"pairing method missing", FromServer, env(TypeServerActivate, `{"activities":["pairing"],"pairing":{}}`)},
		{"dynamic format missing", FromServer, env(TypeServerActivate, `{"activities":["pairing"],"pairing":{"method":"dynamic_pairing_code"}}`)},
		{"unknown player command", FromServer, env(TypeServerCommand, `{"player":{"command":"bass_boost","level":3}}`)},
		{"unknown controller command", FromClient, env(TypeClientCommand, `{"controller":{"command":"like"}}`)},
		{"unknown codec listed", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":["player@v1"],"player@v1_support":{"supported_formats":[{"codec":"lc3","channels":2,"sample_rate":48000,"bit_depth":16},`+okFmt+`],"buffer_capacity":9},"supported_pair_methods":{"pairing_psk":{}},"unpaired_access":{"enabled":false}}`)},
		{"missing support object", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":["player@v1"],"supported_pair_methods":{"pairing_psk":{}},"unpaired_access":{"enabled":false}}`)},
		{"both code methods", FromClient, env(TypeClientHello, `{"name":"c","supported_roles":[],"supported_pair_methods":{"pairing_psk":{},"static_pairing_code":{},"dynamic_pairing_code":{"out_channels":["display"],"formats":["digits"]}},"unpaired_access":{"enabled":false}}`)},
		{"bad mac dropped", FromClient, env(TypeClientHello, `{"name":"c","device_info":{"mac_address":"AA-BB"},"supported_roles":[],"supported_pair_methods":{},"unpaired_access":{"enabled":false}}`)},
		{"long pending message", FromClient, env(TypeClientPairPending, `{"pairing_index":0,"message":"`+strings.Repeat("é", 300)+`"}`)},
		{"opus bit depth zero", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"player":{"codec":"opus","channels":2,"sample_rate":48000,"bit_depth":0}}`)},
		{"pcm header ignored", FromServer, env(TypeStreamStart, `{"server_transmitted":1,"player":{"codec":"pcm","channels":2,"sample_rate":48000,"bit_depth":16,"codec_header":"!!"}}`)},
		{"unknown visualizer type requested", FromClient, env(TypeClientState, `{"available":true,"visualizer":{"types":["chroma"],"rate_max":1}}`)},
		{"unknown supported player command", FromClient, env(TypeClientState, `{"available":true,"player":{"output_delay_ms":0,"required_lead_time_ms":0,"min_buffer_ms":0,"supported_commands":["eq"]}}`)},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			m, err := Decode(c.msg, c.from)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			// None of these may be sent by us.
			if c.name != "pairing ignored without activity" && c.name != "format ignored for static" &&
				c.name != "bad mac dropped" && c.name != "long pending message" && c.name != "opus bit depth zero" &&
				c.name != "pcm header ignored" && c.name != "unknown player command" {
				if _, err := Marshal(m); err == nil {
					t.Fatalf("Marshal accepted a message a sender must not produce")
				}
			}
		})
	}
	m, _ := Decode(env(TypeClientHello, `{"name":"c","supported_roles":[],"supported_pair_methods":{"dynamic_pairing_code":{"out_channels":["hologram"],"formats":["digits","braille"]},"static_pairing_code":{"locations":["moon","device"]}},"unpaired_access":{"enabled":false}}`), FromClient)
	pm := m.(*ClientHello).PairMethods
	if pm.DynamicCode != nil || len(pm.Ignored) != 1 || pm.Ignored[0] != "dynamic_pairing_code" {
		t.Fatalf("a dynamic descriptor with no recognized channel must be an ignored key: %#v", pm)
	}
	if len(pm.StaticCode.Locations) != 1 || pm.StaticCode.Locations[0] != LocationDevice {
		t.Fatalf("unrecognized locations must be dropped: %#v", pm.StaticCode)
	}
	m, _ = Decode(env(TypeClientPairPending, `{"pairing_index":0,"message":"`+strings.Repeat("é", 300)+`"}`), FromClient)
	if got := m.(*ClientPairPending).DisplayMessage(); got != strings.Repeat("é", 200) {
		t.Fatalf("DisplayMessage kept %d runes", len([]rune(got)))
	}
}

// TestSenderRules covers rules that Marshal enforces on what we send.
func TestSenderRules(t *testing.T) {
	bad := []struct {
		name string
		msg  Message
		rule Rule
	}{
		{"no pairing psk", &ClientHello{Name: "c", SupportedRoles: []Role{}}, RuleRequired},
		{"two code methods", &ClientHello{Name: "c", SupportedRoles: []Role{}, PairMethods: PairMethods{PairingPSK: &StaticMethod{},
			StaticCode: &StaticMethod{}, DynamicCode: &DynamicMethod{OutChannels: []OutChannel{OutDisplay}, Formats: []CodeFormat{FormatDigits}}}}, RuleConflict},
		{"listed role without support", &ClientHello{Name: "c", SupportedRoles: []Role{RolePlayerV1}, PairMethods: PairMethods{PairingPSK: &StaticMethod{}}}, RuleRequired},
		{"support without role", &ClientHello{Name: "c", SupportedRoles: []Role{}, VisualizerSupport: &VisualizerSupport{BufferCapacity: 1},
			PairMethods: PairMethods{PairingPSK: &StaticMethod{}}}, RuleForbidden},
		{"role without version", &ClientHello{Name: "c", SupportedRoles: []Role{"_acme"}, PairMethods: PairMethods{PairingPSK: &StaticMethod{}}}, RuleEncoding},
		{"player lists only opus", &ClientHello{Name: "c", SupportedRoles: []Role{RolePlayerV1}, PlayerSupport: &PlayerSupport{
			SupportedFormats: []AudioFormat{{Codec: CodecOpus, Channels: 2, SampleRate: 48000}}, BufferCapacity: 1},
			PairMethods: PairMethods{PairingPSK: &StaticMethod{}}}, RuleRequired},
		{"bad mac", &ClientHello{Name: "c", SupportedRoles: []Role{}, DeviceInfo: &DeviceInfo{MACAddress: "AA:BB:CC:DD:EE:FF"},
			PairMethods: PairMethods{PairingPSK: &StaticMethod{}}}, RuleEncoding},
		{"dynamic without format", &ServerActivate{Activities: []Activity{ActivityPairing}, Pairing: &PairingParams{Method: MethodDynamicCode}}, RuleRequired},
		{"format with static method", &ServerActivate{Activities: []Activity{ActivityPairing}, Pairing: &PairingParams{Method: MethodStaticCode, Format: FormatDigits}}, RuleForbidden},
		{"pairing without activity", &ServerActivate{Activities: []Activity{}, Pairing: &PairingParams{Method: MethodPairingPSK}}, RuleForbidden},
		{"pairing activity without pairing", &ServerActivate{Activities: []Activity{ActivityPairing}}, RuleRequired},
		{"pairing without method", &ServerActivate{Activities: []Activity{ActivityPairing}, Pairing: &PairingParams{}}, RuleEnum},
		{"unknown activity", &ServerActivate{Activities: []Activity{"dancing"}}, RuleEnum},
		{"source codecs without pcm", &ServerHello{Name: "s", SourceSupport: &ServerSourceSupport{SupportedCodecs: []Codec{CodecFLAC}}}, RuleRequired},
		{"bad language tag", &ServerHello{Name: "s", Languages: []string{"en_US"}}, RuleEncoding},
		{"long pending message", &ClientPairPending{Message: strings.Repeat("x", 201)}, RuleLength},
		{"unknown player command", &ServerCommand{Player: &PlayerCommand{Command: "eq"}}, RuleEnum},
		{"pcm with header", &StreamStart{Player: &PlayerStream{AudioFormat: AudioFormat{Codec: CodecPCM, Channels: 1, SampleRate: 8000, BitDepth: 16},
			CodecHeader: []byte{1}}}, RuleForbidden},
		{"downbeats without beat", &StreamStart{Visualizer: &VisualizerStream{Types: []VisualizerType{VisPeak}, RateMax: 1,
			TracksDownbeats: ptr(false)}}, RuleForbidden},
		{"spectrum without type", &StreamStart{Visualizer: &VisualizerStream{Types: []VisualizerType{VisPeak}, RateMax: 1,
			Spectrum: &Spectrum{NDispBins: 1, Scale: ScaleLin, FMin: 1, FMax: 2}}}, RuleForbidden},
		{"none channel with format", &ClientState{Artwork: &ArtworkState{Channels: []ArtworkChannel{{Source: ArtworkNone, Format: ImagePNG}}}}, 0},
		{"bad ext json", &ClientState{Ext: map[string][]byte{"_x": []byte("{")}}, RuleSyntax},
		{"unknown error reason", &ServerError{Reason: "busy"}, RuleEnum},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			out, err := Marshal(c.msg)
			if c.rule == 0 {
				// Encoders drop what a none channel does not carry.
				if err != nil || strings.Contains(string(out), "png") {
					t.Fatalf("got %s, %v", out, err)
				}
				return
			}
			if RuleOf(err) != c.rule {
				t.Fatalf("Marshal = %s, %v; want rule %v", out, err, c.rule)
			}
			if out != nil {
				t.Fatalf("Marshal returned bytes with its error")
			}
		})
	}
}
