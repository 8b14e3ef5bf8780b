//go:build !unix

package sim

import "time"

// processCPU is not measured off unix.
func processCPU() time.Duration { return 0 }
