// Package handlers holds astrobot's Slack logic: slash commands, modal
// submissions, block actions, App Home and the Block Kit messages the bot sends.
//
// Handlers take slack-go structs and return the payload to acknowledge with; they
// never touch a socket or an HTTP request, so the HTTP and Socket Mode transports
// in package bot share them and tests call them directly. The Slack Web API calls
// a handler needs (opening a modal, posting to a response URL) go through the
// small interfaces declared here.
package handlers
