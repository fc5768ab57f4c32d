# Varnish under test in benches/load/compare.sh. @ORIGIN_PORT@ is filled in
# by compare.sh. Everything else is Varnish's built-in VCL: objects live for
# the origin's max-age, no-store responses become hit-for-miss objects and
# every request for them goes to the origin.
vcl 4.1;

backend origin {
    .host = "127.0.0.1";
    .port = "@ORIGIN_PORT@";
}

sub vcl_backend_fetch {
    # Tells the origin's access log which cache sent a request.
    set bereq.http.X-Bench-Cache = "varnish";
}

sub vcl_deliver {
    # Lets compare.sh check that the warm-up request was a hit.
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
    } else {
        set resp.http.X-Cache = "MISS";
    }
}
