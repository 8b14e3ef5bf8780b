// Package engine drives a restore: it builds a plan from a diff and the dependency
// graph, applies it under Graph's limits with a journal that survives a crash, and
// verifies the result. It reports progress to observers and knows nothing of the
// terminal. It also holds the small analyses the console and the CLI share, such as
// loading a snapshot's dependency graph.
package engine
