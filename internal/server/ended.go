package server

import (
	"fmt"

	"github.com/tonearm-audio/tonearm/internal/session"
	"github.com/tonearm-audio/tonearm/internal/wire"
)

// Ended is the error Dial returns once a session it opened is over: how
// it ended decides whether and when to dial again (messaging.md
// "client/goodbye"; session.AfterGoodbye, session.AfterDrop).
type Ended struct {
	// Goodbye is the client's client/goodbye reason, "" if it sent none.
	Goodbye wire.GoodbyeReason
	// Activities are the last activities the connection declared.
	Activities session.ActivitySet
	// Err is why the connection ended, nil after a goodbye.
	Err error
}

func (e *Ended) Error() string {
	if e.Goodbye != "" {
		return fmt.Sprintf("server: the client said goodbye (%s)", e.Goodbye)
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return "server: the connection ended"
}

func (e *Ended) Unwrap() error { return e.Err }

// Reconnect is the policy for dialing the client again.
func (e *Ended) Reconnect() session.Reconnect {
	if e.Goodbye != "" {
		return session.AfterGoodbye(e.Goodbye)
	}
	return session.AfterDrop(e.Activities)
}
