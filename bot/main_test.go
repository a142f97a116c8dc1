package bot

import (
	"os"
	"testing"

	"github.com/astrobot-dev/astrobot/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }
