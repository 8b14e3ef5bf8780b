package sim

import (
	"fmt"
	"net/http"
)

// apiError is a Graph error answer: status, OData error code and message. Handlers and
// store operations return it; the response writer turns it into Graph's error body.
type apiError struct {
	status  int
	code    string
	message string
	// headers are extra response headers (Retry-After, Location).
	headers map[string]string
	// details become error.details[] (code, message, target).
	details []map[string]string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s: %s", e.status, e.code, e.message) }

func newError(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

// badRequest is the directory's generic refusal of a write or a query.
func badRequest(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "Request_BadRequest", format, args...)
}

// notFound is the directory's answer for an id it does not hold (or holds in a bin).
func notFound(id string) *apiError {
	return newError(http.StatusNotFound, "Request_ResourceNotFound",
		"Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
}

// unsupportedQuery refuses a query option the directory does not support.
func unsupportedQuery(format string, args ...any) *apiError {
	return newError(http.StatusBadRequest, "Request_UnsupportedQuery", format, args...)
}

// segmentNotFound is OData's answer to a path the service does not know.
func segmentNotFound(seg string) *apiError {
	return newError(http.StatusBadRequest, "BadRequest", "Resource not found for the segment '%s'.", seg)
}

// methodNotAllowed refuses a method the path does not support.
func methodNotAllowed() *apiError {
	return newError(http.StatusMethodNotAllowed, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
}

// conflictUnique is the directory's 400 for a natural-key collision.
func conflictUnique(prop string) *apiError {
	return badRequest("Another object with the same value for property %s already exists.", prop)
}

// conflictKey is the 409 some endpoints (role assignments) give for a duplicate.
func conflictKey() *apiError {
	e := newError(http.StatusConflict, "Request_MultipleObjectsWithSameKeyValue",
		"A conflicting object with one or more of the specified property values is present in the directory.")
	e.details = []map[string]string{{"code": "ConflictingObjects", "message": "A conflicting object with one or more of the specified property values is present in the directory.", "target": ""}}
	return e
}

// forbidden refuses an operation the caller may not perform.
func forbidden(format string, args ...any) *apiError {
	return newError(http.StatusForbidden, "Authorization_RequestDenied", format, args...)
}

// malformed is Graph's generic answer to a body it cannot read.
func malformed() *apiError {
	return newError(http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
}
