package zeromq

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every socket closed here must
// end all of zmq4's goroutines (see closePubWriter).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
