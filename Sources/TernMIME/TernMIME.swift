// TernMIME: building and (in later issues) parsing Internet messages: RFC 5322 headers and
// dates, RFC 5321 §4.4 trace fields, RFC 2045 MIME.
//
// Pure code: no I/O, no clock (callers pass the time), no Foundation.
