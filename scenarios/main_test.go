package scenarios

import (
	"os"
	"testing"

	"github.com/wireplay/wireplay/servermodels"
)

// TestMain lets the test binary be the server-models lesson's process-per-connection children.
func TestMain(m *testing.M) {
	servermodels.RunChild()
	os.Exit(m.Run())
}
