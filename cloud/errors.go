package cloud

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/astrobot-dev/astrobot"
)

// failClass is what kind of trouble an AWS error is.
type failClass int

const (
	failAPI         failClass = iota // AWS refused the call for a reason of its own
	failDenied                       // credentials or permissions
	failThrottle                     // AWS throttles us, even after the SDK's retries
	failTimeout                      // no answer in time
	failCancelled                    // astrobot stopped waiting
	failUnreachable                  // no connection to AWS
	failUnknown
)

// failure is an AWS error, classified: its class, the level to log it at,
// the AWS error code (or a word for errors without one), and the API error
// and innermost SDK operation when there are.
type failure struct {
	class failClass
	level slog.Level
	code  string
	api   smithy.APIError
	op    *smithy.OperationError
}

// classify classifies an error of an AWS call.
func classify(err error) failure {
	apiErr, isAPI := errors.AsType[smithy.APIError](err)
	netErr, isNet := errors.AsType[net.Error](err)
	_, isOp := errors.AsType[*net.OpError](err)
	f := failure{op: innermostOperation(err)}
	switch {
	case isAPI:
		f.api, f.code, f.level, f.class = apiErr, apiErr.ErrorCode(), slog.LevelError, failAPI
		switch {
		case isDenied(f.code):
			f.class = failDenied
		case isThrottle(f.code):
			f.class, f.level = failThrottle, slog.LevelWarn
		}
	case errors.Is(err, context.DeadlineExceeded) || (isNet && netErr.Timeout()):
		f.class, f.level, f.code = failTimeout, slog.LevelWarn, "timeout"
	case errors.Is(err, context.Canceled):
		f.class, f.level, f.code = failCancelled, slog.LevelWarn, "cancelled"
	case isOp:
		f.class, f.level, f.code = failUnreachable, slog.LevelError, "unreachable"
	default:
		f.class, f.level, f.code = failUnknown, slog.LevelError, "unknown"
	}
	return f
}

// Failer turns the failed AWS calls of one part of astrobot into errors for
// support: it logs each once, with the AWS error code, account and region,
// and returns an EInternal *astrobot.Error whose message says what happened
// and what to do. The provisioners of every kind use it.
type Failer struct {
	Clients *Clients
	Logger  *slog.Logger
	Prefix  string // starts every log message: "peering"
}

// Fail reports err of the attempt to do what ("add routes") in account and
// region. The error wraps err, so that IsPermission and IsThrottle see it.
func (f Failer) Fail(ctx context.Context, account, region, what string, err error, attrs ...any) error {
	fl := classify(err)
	f.Logger.Log(ctx, fl.level, f.Prefix+": AWS call failed",
		append([]any{"op", what, "account", account, "region", region, "code", fl.code, "err", err}, attrs...)...)
	return fmt.Errorf("%w (%w)", &astrobot.Error{Code: astrobot.EInternal, Message: f.message(fl, account, region, what)}, err)
}

// message is the sentence for support about failure fl.
func (f Failer) message(fl failure, account, region, what string) string {
	where := fmt.Sprintf("account %s, %s", account, region)
	switch fl.class {
	case failDenied:
		if fl.op != nil && fl.op.Service() == sts.ServiceID {
			return fmt.Sprintf("astrobot may not assume the role %s to act in account %s (%s): let its credentials call sts:AssumeRole on that role, and let the role's trust policy admit them.",
				f.Clients.Role(account), account, fl.code)
		}
		return fmt.Sprintf("astrobot may not %s in %s (%s): grant %s to the AWS identity astrobot uses there.", what, where, fl.code, iamActions(fl.op))
	case failThrottle:
		return fmt.Sprintf("AWS is throttling astrobot in %s (%s), so it could not %s; try again in a minute.", where, fl.code, what)
	case failAPI:
		reason := cmp.Or(strings.TrimSuffix(fl.api.ErrorMessage(), "."), "no reason given")
		return fmt.Sprintf("AWS refused to %s in %s (%s): %s.", what, where, fl.code, reason)
	case failTimeout:
		return fmt.Sprintf("AWS did not answer in time when astrobot tried to %s in %s; try again in a minute.", what, where)
	case failCancelled:
		return fmt.Sprintf("astrobot stopped before AWS answered while it tried to %s in %s; try again in a minute.", what, where)
	case failUnreachable:
		return fmt.Sprintf("astrobot could not reach AWS to %s in %s; try again in a few minutes.", what, where)
	}
	return fmt.Sprintf("astrobot could not %s in %s; try again in a few minutes, and tell the astrobot operators if it keeps failing.", what, where)
}

// innermostOperation returns the innermost SDK operation of err's chain: the
// STS AssumeRole call when fetching role credentials failed, or nil.
func innermostOperation(err error) *smithy.OperationError {
	var last *smithy.OperationError
	for {
		op, ok := errors.AsType[*smithy.OperationError](err)
		if !ok {
			return last
		}
		last, err = op, op.Err
	}
}

// iamActions names the IAM actions the failed operation needs: its own, and
// ec2:CreateTags for an EC2 call that creates a tagged resource.
func iamActions(op *smithy.OperationError) string {
	if op == nil {
		return "the permissions astrobot needs"
	}
	service := strings.ToLower(strings.ReplaceAll(op.Service(), " ", ""))
	action := service + ":" + op.Operation()
	if service == "ec2" && strings.HasPrefix(op.Operation(), "Create") {
		return action + " and ec2:CreateTags"
	}
	return action
}

// IsPermission reports whether err comes from AWS refusing astrobot's
// credentials or permissions. Retrying will not help until someone changes
// the IAM policies.
func IsPermission(err error) bool { return classify(err).class == failDenied }

// IsThrottle reports whether err comes from AWS throttling astrobot's calls,
// even after the SDK's retries. Trying again later will help.
func IsThrottle(err error) bool { return classify(err).class == failThrottle }

func isThrottle(code string) bool {
	_, ok := retry.DefaultThrottleErrorCodes[code]
	return ok
}

func isDenied(code string) bool {
	switch code {
	case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException", "AuthFailure",
		"InvalidClientTokenId", "SignatureDoesNotMatch", "ExpiredToken", "UnrecognizedClientException":
		return true
	}
	return false
}

// isCode reports whether err is the AWS error code, ignoring case.
func isCode(err error, code string) bool {
	apiErr, ok := errors.AsType[smithy.APIError](err)
	return ok && strings.EqualFold(apiErr.ErrorCode(), code)
}

// lookupError classifies a failed cluster look-up: the level to log it at,
// the AWS error code, and the error for the user.
func lookupError(err error) (slog.Level, string, error) {
	fl := classify(err)
	msg := "Looking up clusters in AWS failed; try again in a few minutes, and tell the support team if it keeps failing."
	switch fl.class {
	case failThrottle:
		msg = "AWS is throttling cluster look-ups right now; try again in a minute."
	case failDenied:
		msg = "astrobot is not allowed to look up clusters in AWS; ask the astrobot operators to check its AWS permissions."
	case failTimeout:
		msg = "AWS did not answer the cluster look-up in time; try again in a minute."
	case failCancelled:
		msg = "The cluster look-up was stopped before AWS answered; try again in a minute."
	case failUnreachable:
		msg = "astrobot could not reach AWS to look up clusters; try again in a few minutes."
	}
	return fl.level, fl.code, astrobot.Errorf(astrobot.EInternal, "%s", msg)
}
