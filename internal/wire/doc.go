// Package wire is the codec for every Sendspin message of the pinned
// specification (../shared/spec): the cleartext handshake messages, the JSON
// envelope, every core, pairing and role message, the binary message IDs,
// the 13-byte audio header and the other binary role layouts, and
// fragmentation (messaging.md "Fragmentation").
//
// It is the first layer of Tonearm (GUIDE.md section 2): pure functions and
// types with no state beyond a Reassembler's buffer, no I/O, no clock and no
// goroutines. Decoders reject what the spec rejects with an *Error naming the
// message, the field and the rule, so a driver can map it to the spec's
// response; encoders never emit a field the spec does not define.
//
// Forward compatibility (messaging.md "Communication"): unknown payload fields
// are ignored, a valid envelope with an unknown type decodes to *Unknown, and
// "_"-prefixed application objects are preserved in Ext maps. When such rules
// apply (after activation) is the session layer's business, not this one's.
package wire
