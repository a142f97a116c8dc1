package fakeaws

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Route53Namespace is the XML namespace of Route 53's requests and answers.
const Route53Namespace = "https://route53.amazonaws.com/doc/2013-04-01/"

// WriteEC2 answers an EC2 Query call of action with body, the elements of
// its response.
func WriteEC2(w http.ResponseWriter, action, body string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<%sResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>req-1</requestId>%s</%sResponse>`, action, body, action)
}

// WriteEC2Error answers an EC2 Query call with the error code and message.
func WriteEC2Error(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>req-1</RequestID></Response>`, code, message)
}

// WriteJSON answers a REST-JSON call with v.
func WriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// WriteJSONError answers a REST-JSON call with the error code (in
// X-Amzn-ErrorType, as RAM sends it) and message.
func WriteJSONError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

// WriteRESTXML answers a REST-XML call of op with body, the elements of its
// <op>Response in the namespace.
func WriteRESTXML(w http.ResponseWriter, namespace, op, body string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><%sResponse xmlns="%s">%s</%sResponse>`, op, namespace, body, op)
}

// WriteRESTXMLError answers a REST-XML call with the error code and message,
// in the namespace.
func WriteRESTXMLError(w http.ResponseWriter, status int, namespace, code, message string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>req-1</RequestId></ErrorResponse>`,
		namespace, code, message)
}
