package astrobot

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrorCode classifies an Error. One function in package handlers maps each code
// to a Slack response.
type ErrorCode string

// Error codes.
const (
	EInvalid      ErrorCode = "invalid"      // the user's input is wrong; Message says how to fix it
	ENotFound     ErrorCode = "not_found"    // nothing by that name is visible to the caller
	EConflict     ErrorCode = "conflict"     // the change collides with the current state
	EUnauthorized ErrorCode = "unauthorized" // the caller may not do this
	EInternal     ErrorCode = "internal"     // a fault of ours; logged, the user gets an apology
)

// Error is the one error type of astrobot. Message is a sentence a Slack user can
// read. Fields, when set, holds per-field messages for form input, keyed by the
// Field* names of this package.
type Error struct {
	Code    ErrorCode
	Message string
	Fields  map[string]string
}

// Error returns the message, prefixed with the code.
func (e *Error) Error() string {
	return fmt.Sprintf("astrobot %s: %s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCodeOf returns the code of the first *Error in err's chain, EInternal for
// any other non-nil error and "" for nil.
func ErrorCodeOf(err error) ErrorCode {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return EInternal
}

// ErrorMessageOf returns the user-readable message of the first *Error in err's
// chain, or a generic sentence for any other error.
func ErrorMessageOf(err error) string {
	if err == nil {
		return ""
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Message
	}
	return "Something went wrong on our side."
}

// Quote returns s quoted for a message, clipped to 64 characters: messages
// echo what the user typed, and what they typed may be long or not UTF-8.
func Quote(s string) string {
	const max = 64
	s = strings.ToValidUTF8(s, "\uFFFD")
	if r := []rune(s); len(r) > max {
		return strconv.Quote(string(r[:max])) + "…"
	}
	return strconv.Quote(s)
}
