// A scoring server in Java for the proxy-mode tests: a separate process in another language, behind the
// product the way SAS's or H2O's Java scorers are. Single file: `java Scorer.java` (or javac, then java -cp).
// Its port comes from MODEL_SERVER_UPSTREAM_PORT (set by serve), else SCORER_PORT, else 9090.
// Environment: SCORER_HEALTH_PATH (/ping), SCORER_INVOCATIONS_PATH (/invocations), SCORER_LISTEN_AFTER_MS
// (bind late: connections are refused until then), SCORER_HEALTHY_AFTER_MS (health answers 503 until then),
// SCORER_TERM_FILE (the SIGTERM moment and the requests then in flight are written there),
// SCORER_IGNORE_SIGTERM=1 (a SIGTERM does not stop it: only SIGKILL does).
// An invocation does what its X-Scorer-Behaviour header says: echo (default), count, status:<code>,
// redirect, accel:<target> (an X-Accel-Redirect header, which nginx must not act on), slow:<ms>, tmpdir,
// exit:<code>, hold (first half of the answer, the rest after POST /admin/release).
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

public class Scorer {
    static volatile boolean healthy = true;
    static final long started = System.currentTimeMillis();
    static long healthyAfter = 0;
    static final AtomicInteger inFlight = new AtomicInteger();
    static final AtomicLong received = new AtomicLong();
    static final Set<String> peers = ConcurrentHashMap.newKeySet();
    static volatile CountDownLatch release = new CountDownLatch(1);

    static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    public static void main(String[] args) throws Exception {
        // Without TCP_NODELAY, Java's HttpServer answers keep-alive clients about once per 40 ms each.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        int port = Integer.parseInt(env("MODEL_SERVER_UPSTREAM_PORT", env("SCORER_PORT", "9090")));
        String healthPath = env("SCORER_HEALTH_PATH", "/ping");
        String invocationsPath = env("SCORER_INVOCATIONS_PATH", "/invocations");
        healthyAfter = Long.parseLong(env("SCORER_HEALTHY_AFTER_MS", "0"));
        String termFile = env("SCORER_TERM_FILE", "");
        boolean ignoreTerm = env("SCORER_IGNORE_SIGTERM", "").equals("1");
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            String line = "scorer: SIGTERM at " + System.currentTimeMillis() + " with " + inFlight.get() + " request(s) in flight";
            System.out.println(line);
            if (!termFile.isEmpty()) {
                try { Files.writeString(Path.of(termFile), line + "\n"); } catch (IOException e) { e.printStackTrace(); }
            }
            while (ignoreTerm) {
                try { Thread.sleep(1000); } catch (InterruptedException e) { return; }
            }
        }));
        Thread.sleep(Long.parseLong(env("SCORER_LISTEN_AFTER_MS", "0")));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 1024);
        server.setExecutor(Executors.newCachedThreadPool());
        server.createContext(healthPath, ex -> {
            drain(ex);
            boolean up = healthy && System.currentTimeMillis() - started >= healthyAfter;
            reply(ex, up ? 200 : 503, "text/plain", up ? "ok\n" : "unhealthy\n");
        });
        server.createContext("/admin/health", ex -> {
            drain(ex);
            healthy = !String.valueOf(ex.getRequestURI().getQuery()).contains("state=down");
            reply(ex, 200, "text/plain", healthy ? "up\n" : "down\n");
        });
        server.createContext("/admin/received", ex -> {
            drain(ex);
            reply(ex, 200, "application/json", "{\"bytes\":" + received.get() + "}\n");
        });
        server.createContext("/admin/release", ex -> {
            drain(ex);
            release.countDown();
            reply(ex, 200, "text/plain", "released\n");
        });
        server.createContext("/admin/connections", ex -> {
            drain(ex);
            reply(ex, 200, "application/json", "{\"connections\":" + peers.size() + "}\n");
        });
        server.createContext(invocationsPath, Scorer::invoke);
        server.start();
        System.out.println("scorer: listening on 127.0.0.1:" + port + ", java.io.tmpdir=" + System.getProperty("java.io.tmpdir"));
    }

    static void invoke(HttpExchange ex) throws IOException {
        inFlight.incrementAndGet();
        try {
            peers.add(ex.getRemoteAddress().toString());
            String behaviour = String.valueOf(ex.getRequestHeaders().getFirst("X-Scorer-Behaviour"));
            String attributes = ex.getRequestHeaders().getFirst("X-Amzn-SageMaker-Custom-Attributes");
            if (attributes != null) ex.getResponseHeaders().set("X-Amzn-SageMaker-Custom-Attributes", "echo:" + attributes);
            String requestId = ex.getRequestHeaders().getFirst("X-Request-Id");
            if (requestId != null) ex.getResponseHeaders().set("X-Scorer-Saw-Request-Id", requestId);
            String inferenceId = ex.getRequestHeaders().getFirst("X-Amzn-SageMaker-Inference-Id");
            if (inferenceId != null) ex.getResponseHeaders().set("X-Scorer-Saw-Inference-Id", inferenceId);
            if (behaviour.startsWith("status:")) {
                drain(ex);
                int status = Integer.parseInt(behaviour.substring(7));
                reply(ex, status, "application/json", "{\"scorer\":\"its own " + status + " answer\"}\n");
            } else if (behaviour.equals("redirect")) {
                drain(ex);
                ex.getResponseHeaders().set("Location", "/SASScoring/score");
                reply(ex, 302, "text/plain", "moved\n");
            } else if (behaviour.startsWith("accel:")) {
                drain(ex);
                ex.getResponseHeaders().set("X-Accel-Redirect", behaviour.substring(6));
                reply(ex, 200, "application/json", "{\"scorer\":\"its own answer\"}\n");
            } else if (behaviour.startsWith("slow:")) {
                drain(ex);
                sleep(Long.parseLong(behaviour.substring(5)));
                reply(ex, 200, "text/plain", "slow answer\n");
            } else if (behaviour.equals("tmpdir")) {
                drain(ex);
                File file = File.createTempFile("scorer-", ".tmp");
                reply(ex, 200, "application/json", "{\"javaIoTmpdir\":\"" + System.getProperty("java.io.tmpdir") + "\",\"TMPDIR\":\""
                    + System.getenv("TMPDIR") + "\",\"tempFile\":\"" + file.getAbsolutePath() + "\"}\n");
            } else if (behaviour.startsWith("exit:")) {
                drain(ex);
                int code = Integer.parseInt(behaviour.substring(5));
                reply(ex, 200, "text/plain", "exiting with " + code + "\n");
                new Thread(() -> { sleep(100); Runtime.getRuntime().halt(code); }).start();
            } else if (behaviour.equals("hold")) {
                drain(ex);
                ex.getResponseHeaders().set("Content-Type", "text/plain");
                ex.sendResponseHeaders(200, 0);
                OutputStream out = ex.getResponseBody();
                out.write("first half\n".getBytes(StandardCharsets.UTF_8));
                out.flush();
                try { release.await(30, TimeUnit.SECONDS); } catch (InterruptedException e) { return; }
                release = new CountDownLatch(1);
                out.write("second half\n".getBytes(StandardCharsets.UTF_8));
                out.close();
            } else if (behaviour.equals("count")) {
                received.set(0);
                long bytes = drain(ex);
                reply(ex, 200, "application/json", "{\"bytes\":" + bytes + "}\n");
            } else {
                byte[] body = ex.getRequestBody().readAllBytes();
                String type = ex.getRequestHeaders().getFirst("Content-Type");
                reply(ex, 200, type == null ? "application/octet-stream" : type, body);
            }
        } finally {
            inFlight.decrementAndGet();
        }
    }

    /** Reads the body to its end, adding the bytes to GET /admin/received's count as they arrive. */
    static long drain(HttpExchange ex) throws IOException {
        InputStream in = ex.getRequestBody();
        byte[] buffer = new byte[8192];
        long total = 0;
        for (int n; (n = in.read(buffer)) > 0; ) {
            total += n;
            received.addAndGet(n);
        }
        return total;
    }

    static void reply(HttpExchange ex, int status, String type, String body) throws IOException {
        reply(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
    }

    static void reply(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
    }

    static void sleep(long ms) {
        try { Thread.sleep(ms); } catch (InterruptedException e) { Thread.currentThread().interrupt(); }
    }
}
