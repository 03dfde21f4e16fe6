package wire

import (
	"github.com/tonearm-audio/tonearm/internal/keys"
)

func ptr[T any](v T) *T { return &v }

func key32(seed byte) [32]byte {
	var k [32]byte
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

// sample is a message value with a name for its golden file.
type sample struct {
	name string
	msg  Message
}

// samples covers every message type, with its optional fields set in one
// sample and left out in another where the type has any.
func samples() []sample {
	fmt48 := AudioFormat{Codec: CodecPCM, Channels: 2, SampleRate: 48000, BitDepth: 16}
	flacHeader := []byte("fLaC\x00\x00\x00\x22 streaminfo bytes......")
	return []sample{
		{"client-init", &ClientInit{ClientID: keys.PublicKey(key32(1)), Version: 1, Suite: keys.SuiteChaChaPoly}},
		{"server-init", &ServerInit{ServerID: keys.PublicKey(key32(2)), Version: 1}},
		{"noise-handshake", &NoiseHandshake{Data: []byte{1, 2, 3, 4, 5, 250, 251, 252}}},
		{"server-error", &ServerError{Reason: ReasonUnsupportedSuite}},
		{"server-hello-min", &ServerHello{Name: "Living room server"}},
		{"server-hello-full", &ServerHello{Name: "Tonearm \"main\"\n", Languages: []string{"ca", "es", "en-GB"},
			SourceSupport: &ServerSourceSupport{SupportedCodecs: []Codec{CodecFLAC, CodecPCM, CodecOpus}}}},
		{"client-hello-min", &ClientHello{Name: "Kitchen", SupportedRoles: []Role{},
			PairMethods: PairMethods{PairingPSK: &StaticMethod{}}}},
		{"client-hello-full", &ClientHello{
			Name:       "Kitchen speaker",
			DeviceInfo: &DeviceInfo{ProductName: "T-1", Manufacturer: "Tonearm", SoftwareVersion: "0.1.0", MACAddress: "aa:bb:cc:dd:ee:0f"},
			SupportedRoles: []Role{RolePlayerV1, RoleSourceV1, RoleControllerV1, RoleMetadataV1, RoleArtworkV1,
				RoleVisualizerV1, RoleColorV1, "_acme_display@v1"},
			PlayerSupport: &PlayerSupport{SupportedFormats: []AudioFormat{
				{Codec: CodecOpus, Channels: 2, SampleRate: 48000, BitDepth: 16}, fmt48,
				{Codec: CodecFLAC, Channels: 2, SampleRate: 44100, BitDepth: 24}}, BufferCapacity: 1 << 20},
			SourceSupport:     &SourceSupport{LineSense: true},
			VisualizerSupport: &VisualizerSupport{BufferCapacity: 65536},
			OtherSupport:      map[string][]byte{"_acme_display@v1_support": []byte(`{"dpi":300}`)},
			PairMethods: PairMethods{
				PairingPSK:  &StaticMethod{Locations: []Location{LocationDevice, LocationLeaflet}},
				DynamicCode: &DynamicMethod{OutChannels: []OutChannel{OutDisplay, OutSpeaker}, Formats: []CodeFormat{FormatDigits, FormatQRCode}},
			},
			UnpairedAccess: true,
		}},
		{"client-hello-static", &ClientHello{Name: "Amp", SupportedRoles: []Role{RolePlayerV1},
			PlayerSupport: &PlayerSupport{SupportedFormats: []AudioFormat{fmt48}, BufferCapacity: 500000},
			PairMethods: PairMethods{PairingPSK: &StaticMethod{Locations: []Location{LocationOperator}},
				StaticCode: &StaticMethod{Locations: []Location{LocationDevice}}}}},
		{"server-activate-empty", &ServerActivate{Activities: []Activity{}, HasActiveRoles: true, ActiveRoles: []Role{}}},
		{"server-activate-omitted-roles", &ServerActivate{Activities: []Activity{ActivityPlayback}}},
		{"server-activate-playback", &ServerActivate{Activities: []Activity{ActivityPlayback}, HasActiveRoles: true,
			ActiveRoles: []Role{RolePlayerV1, RoleControllerV1}}},
		{"server-activate-pairing-dynamic", &ServerActivate{Activities: []Activity{ActivityPlayback, ActivityPairing},
			Pairing: &PairingParams{Method: MethodDynamicCode, Format: FormatQRCode}}},
		{"server-activate-pairing-psk", &ServerActivate{Activities: []Activity{ActivityPairing}, HasActiveRoles: true,
			ActiveRoles: []Role{}, Pairing: &PairingParams{Method: MethodPairingPSK}}},
		{"client-time", &ClientTime{ClientTransmitted: 1234567890123}},
		{"server-time", &ServerTime{ClientTransmitted: 1234567890123, ServerReceived: -5, ServerTransmitted: 9007199254740993}},
		{"client-state-min", &ClientState{Available: false}},
		{"client-state-full", &ClientState{
			Available: true,
			Player: &PlayerState{Volume: ptr(40), Muted: ptr(false), OutputDelayMS: 120, RequiredLeadTimeMS: 300,
				MinBufferMS: 80, SupportedCommands: []PlayerCommandName{PlayerCmdVolume, PlayerCmdMute, PlayerCmdSetOutputDelay},
				Format: &fmt48},
			Source: &SourceState{Signal: SignalPresent},
			Artwork: &ArtworkState{Channels: []ArtworkChannel{
				{Source: ArtworkAlbum, Format: ImageJPEG, Width: 800, Height: 800},
				{Source: ArtworkNone},
				{Source: ArtworkArtist, Format: ImagePNG, Width: 64, Height: 32}}},
			Visualizer: &VisualizerState{Types: []VisualizerType{VisLoudness, VisSpectrum, VisBeat}, RateMax: 30,
				Spectrum: &Spectrum{NDispBins: 16, Scale: ScaleMel, FMin: 20, FMax: 20000}},
			Ext: map[string][]byte{"_acme_display": []byte(`{"brightness":3}`)},
		}},
		{"client-state-readonly-volume", &ClientState{Available: true, Player: &PlayerState{Volume: ptr(100),
			SupportedCommands: []PlayerCommandName{}}}},
		{"client-command", &ClientCommand{Controller: &ControllerCommand{Command: CtlSeekRelative, OffsetMS: -15000}}},
		{"client-command-volume", &ClientCommand{Controller: &ControllerCommand{Command: CtlVolume, Volume: 55},
			Ext: map[string][]byte{"_acme": []byte(`{"x":[1,2]}`)}}},
		{"client-command-empty", &ClientCommand{}},
		{"client-leave", &ClientLeave{}},
		{"server-state-full", &ServerState{
			Metadata: &MetadataState{Timestamp: 1000, Title: ptr("Song"), Artist: ptr("Artist"), AlbumArtist: ptr("Various"),
				Album: ptr("Album"), ArtworkURL: ptr("http://127.0.0.1/a.jpg"), Year: ptr(1999), Track: ptr(3),
				Progress: &Progress{TrackProgress: 1500, TrackDuration: 240000, PlaybackSpeed: 1000}},
			Controller: &ControllerState{SupportedCommands: []ControllerCommandName{CtlPlay, CtlSeek, CtlVolume}, Volume: 70,
				Muted: true, Repeat: RepeatAll, Shuffle: true, SeekMaxMS: ptr(int64(240000))},
			Color: &ColorState{Timestamp: 1000, BackgroundDark: &RGB{10, 20, 30}, BackgroundLight: &RGB{250, 250, 240},
				Primary: &RGB{255, 0, 0}, Accent: &RGB{0, 255, 0}, OnDark: &RGB{255, 255, 255}, OnLight: &RGB{0, 0, 0}},
			Ext: map[string][]byte{"_acme_lights": []byte(`{"scene":"warm"}`)},
		}},
		{"server-state-metadata-min", &ServerState{Metadata: &MetadataState{Timestamp: -1}}},
		{"server-command-player", &ServerCommand{Player: &PlayerCommand{Command: PlayerCmdMute, Mute: true}}},
		{"server-command-delay", &ServerCommand{Player: &PlayerCommand{Command: PlayerCmdSetOutputDelay, OutputDelayMS: 5000},
			Source: &SourceCommand{Command: SourceCmdStart}}},
		{"stream-start-spec-shape", &StreamStart{ServerTransmitted: 1234567890,
			Player:  &PlayerStream{AudioFormat: AudioFormat{Codec: CodecOpus, SampleRate: 48000, Channels: 2, BitDepth: 16}},
			Artwork: &ArtworkStream{Channels: []ArtworkChannel{{Source: ArtworkAlbum, Format: ImageJPEG, Width: 800, Height: 800}}}}},
		{"stream-start-full", &StreamStart{ServerTransmitted: 42,
			Player: &PlayerStream{AudioFormat: AudioFormat{Codec: CodecFLAC, SampleRate: 44100, Channels: 2, BitDepth: 24},
				CodecHeader: flacHeader},
			Artwork: &ArtworkStream{Channels: []ArtworkChannel{}},
			Visualizer: &VisualizerStream{Types: []VisualizerType{VisBeat, VisSpectrum}, RateMax: 20, TracksDownbeats: ptr(true),
				Spectrum: &Spectrum{NDispBins: 8, Scale: ScaleLog, FMin: 40, FMax: 16000}},
			Ext: map[string][]byte{"_acme": []byte(`{}`)}}},
		{"stream-clear-all", &StreamClear{ServerTransmitted: 7}},
		{"stream-clear-roles", &StreamClear{ServerTransmitted: 7, Roles: []string{StreamPlayer, StreamVisualizer, "_acme"}}},
		{"stream-end-all", &StreamEnd{}},
		{"stream-end-roles", &StreamEnd{Roles: []string{StreamArtwork}}},
		{"group-update", &GroupUpdate{PlaybackState: PlaybackPlaying, GroupID: "g-1", GroupName: "Downstairs"}},
		{"server-unpair", &ServerUnpair{}},
		{"client-goodbye", &ClientGoodbye{Reason: GoodbyeAnotherServer}},
		{"client-stream-start", &ClientStreamStart{Source: StreamFormat{AudioFormat: AudioFormat{Codec: CodecPCM, Channels: 1,
			SampleRate: 16000, BitDepth: 24}}}},
		{"client-stream-end", &ClientStreamEnd{}},
		{"client-pair-pending", &ClientPairPending{PairingIndex: 1, Message: "Press the pairing button on the back."}},
		{"client-pair-pending-min", &ClientPairPending{PairingIndex: 4294967295}},
		{"client-pair-init-dynamic", &ClientPairInit{PairingIndex: 2, CommitB: ptr(key32(3))}},
		{"client-pair-init", &ClientPairInit{PairingIndex: 1}},
		{"server-pair-init-first", &ServerPairInit{NonceA: ptr(key32(4))}},
		{"server-pair-init-later", &ServerPairInit{}},
		{"server-pair-auth", &ServerPairAuth{PakeMsg1: key32(5)}},
		{"client-pair-auth", &ClientPairAuth{PakeMsg2: key32(6)}},
		{"server-pair-confirm", &ServerPairConfirm{ServerKC: [64]byte{1, 2, 3, 63: 9}}},
		{"client-pair-retry", &ClientPairRetry{}},
		{"client-pair-confirm-dynamic", &ClientPairConfirm{ClientKC: [64]byte{4, 5, 6, 63: 7}, WrappedNonceB: &[48]byte{8, 47: 9}}},
		{"client-pair-confirm-static", &ClientPairConfirm{ClientKC: [64]byte{4, 5, 6, 63: 7}}},
		{"client-pair-finalize-psk", &ClientPairFinalize{LongTermPSK: ptr(keys.PSK(key32(7)))}},
		{"client-pair-finalize-wrapped", &ClientPairFinalize{WrappedPSK: &[48]byte{10, 47: 11}}},
		{"server-pair-finalize", &ServerPairFinalize{}},
		{"pair-abort", &PairAbort{Reason: AbortPairingCodeMismatch}},
		{"pair-abort-client", &PairAbort{Reason: AbortAttemptTimeout}},
	}
}
