package registrar

// rerr is why save refused a REGISTER: Kamailio's rerrno, which picks the
// reply code and the text of the P-Registrar-Error header.
type rerr int

// The reasons save gives, with Kamailio's replies (registrar/reply.c).
const (
	rFine rerr = iota
	rULGet
	rULUpdate
	rInvCSeq
	rToUser
	rAORParse
	rInvExp
	rInvQ
	rParse
	rToMiss
	rCallIDMiss
	rCSeqMiss
	rParseExp
	rParseCont
	rStarExp
	rStarCont
	rUnescape
	rTooMany
	rContactLen
	rCallIDLen
	rParsePath
	rPathUnsup
	rInvRegID
	rLowExp
)

// rerrInfo is the reply of each reason: the status code, its reason
// phrase and the P-Registrar-Error text, as Kamailio sends them.
var rerrInfo = [...]struct {
	code   int
	reason string
	info   string
}{
	rFine:       {200, "OK", "No problem"},
	rULGet:      {500, "Server Internal Error", "usrloc_record_get failed"},
	rULUpdate:   {500, "Server Internal Error", "usrloc_contact_update failed"},
	rInvCSeq:    {400, "Bad Request", "Invalid CSeq number"},
	rToUser:     {400, "Bad Request", "No username in To URI"},
	rAORParse:   {400, "Bad Request", "Error while parsing AOR"},
	rInvExp:     {400, "Bad Request", "Invalid expires param in contact"},
	rInvQ:       {400, "Bad Request", "Invalid q param in contact"},
	rParse:      {400, "Bad Request", "Message parse error"},
	rToMiss:     {400, "Bad Request", "To header not found"},
	rCallIDMiss: {400, "Bad Request", "Call-ID header not found"},
	rCSeqMiss:   {400, "Bad Request", "CSeq header not found"},
	rParseExp:   {400, "Bad Request", "Expires parse error"},
	rParseCont:  {400, "Bad Request", "Contact parse error"},
	rStarExp:    {400, "Bad Request", "* used in contact and expires is not zero"},
	rStarCont:   {400, "Bad Request", "* used in contact and more than 1 contact"},
	rUnescape:   {400, "Bad Request", "Error while unescaping username"},
	rTooMany:    {503, "Service Unavailable", "Too many registered contacts"},
	rContactLen: {400, "Bad Request", "Contact/received too long"},
	rCallIDLen:  {400, "Bad Request", "Callid too long"},
	rParsePath:  {400, "Bad Request", "Path parse error"},
	rPathUnsup:  {420, "Bad Extension", "No support for found Path indicated"},
	rInvRegID:   {400, "Bad Request", "Invalid Reg-Id number"},
	rLowExp:     {423, "Interval Too Brief", "Interval too brief"},
}

// regError is an error that carries the reason save refuses with.
type regError struct {
	why rerr
	msg string
}

func (e *regError) Error() string { return e.msg }

func refuse(why rerr, msg string) error { return &regError{why: why, msg: msg} }
