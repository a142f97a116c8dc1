package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/astrobot-dev/astrobot"
	"github.com/astrobot-dev/astrobot/bot"
)

// clusters runs `astrobot clusters list` and `astrobot clusters show ID`.
func clusters(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "show") || (args[0] == "show") != (len(args) == 2) || len(args) > 2 {
		fmt.Fprintln(stderr, "usage: astrobot clusters list | astrobot clusters show <cluster ID or name>")
		return 2
	}
	cfg, err := bot.LoadDirectoryConfig(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "astrobot: the configuration has problems:\n%s\n", bullets(err))
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := newLogger(stderr, slog.LevelWarn, "text")
	all, err := bot.Clusters(ctx, cfg, log)
	if err != nil {
		fmt.Fprintf(stderr, "astrobot: %s\n", astrobot.ErrorMessageOf(err))
		if bot.IsConfigError(err) {
			fmt.Fprintln(stderr, bullets(err))
			return 2
		}
		return 1
	}
	if args[0] == "list" {
		tw := tabwriter.NewWriter(stdout, 2, 8, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tORGANIZATION\tREGION\tACCOUNT\tVPC\tCIDRS\tEXTERNAL IPS")
		for _, c := range all {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Name, c.Organization, c.Region, c.AccountID, c.VPCID, strings.Join(astrobot.Strings(c.CIDRs), ","), strings.Join(astrobot.Strings(c.ExternalIPs), ","))
		}
		_ = tw.Flush()
		return 0
	}
	support := astrobot.Caller{Support: true}
	c, err := astrobot.Tenancy{}.FindCluster(support, all, args[1])
	if err != nil {
		fmt.Fprintf(stderr, "astrobot: no cluster %q (astrobot clusters list shows them all)\n", args[1])
		return 1
	}
	fmt.Fprintf(stdout, "id:            %s\nname:          %s\norganization:  %s\nregion:        %s\naccount:       %s\nvpc:           %s\ncidrs:         %s\nexternal ips:  %s\n",
		c.ID, c.Name, c.Organization, c.Region, c.AccountID, c.VPCID, strings.Join(astrobot.Strings(c.CIDRs), ","), strings.Join(astrobot.Strings(c.ExternalIPs), ","))
	return 0
}
