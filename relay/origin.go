package relay

// AdmitsOrigin reports whether some app of the current config admits a page
// of origin (an Origin header value such as "https://app.example"). The
// relay binary uses it to serve web/ with CORS to exactly those pages.
func (s *Server) AdmitsOrigin(origin string) bool { return s.Config().anyAppAdmits(origin, true) }
