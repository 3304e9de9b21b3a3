// An example scoring server shaped like SAS's scoring container: a Java HTTP server on port 9090 that the
// product fronts for SageMaker (local-test/serve-proxy.sh). It scores iris flowers with a fixed decision
// tree: POST /score with CSV rows (sepal length, sepal width, petal length, petal width; a header line is
// skipped) answers one label per row; GET /health answers 200 once the "model" has loaded (a second after
// start). Its temporary files go to java.io.tmpdir, which serve points under MODEL_SERVER_RUN_DIR.
// Run alone: java Scorer.java    (port: $MODEL_SERVER_UPSTREAM_PORT, else $SCORER_PORT, else 9090)
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Executors;

public class Scorer {
    static volatile boolean loaded = false;

    public static void main(String[] args) throws Exception {
        // Without TCP_NODELAY, Java's HttpServer answers keep-alive clients about once per 40 ms each.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        String port = System.getenv().getOrDefault("MODEL_SERVER_UPSTREAM_PORT", System.getenv().getOrDefault("SCORER_PORT", "9090"));
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(port)), 256);
        server.setExecutor(Executors.newFixedThreadPool(Runtime.getRuntime().availableProcessors() * 2));
        server.createContext("/health", ex -> reply(ex, loaded ? 200 : 503, "application/json", loaded ? "{\"status\":\"UP\"}" : "{\"status\":\"LOADING\"}"));
        server.createContext("/score", Scorer::score);
        server.start();
        System.out.println("example scorer: listening on 127.0.0.1:" + port);
        // Stands for loading a model: the work area is where SAS's runtime would unpack it.
        Path work = Files.createTempDirectory("scorer-model-");
        Thread.sleep(1000);
        loaded = true;
        System.out.println("example scorer: model loaded (work area " + work + ")");
    }

    static void score(HttpExchange ex) throws IOException {
        if (!ex.getRequestMethod().equals("POST")) {
            reply(ex, 405, "application/json", "{\"error\":\"POST a CSV body\"}");
            return;
        }
        String type = String.valueOf(ex.getRequestHeaders().getFirst("Content-Type"));
        if (!type.startsWith("text/csv")) {
            reply(ex, 415, "application/json", "{\"error\":\"this scorer reads text/csv, not " + type.replace("\"", "") + "\"}");
            return;
        }
        String[] lines = new String(ex.getRequestBody().readAllBytes(), StandardCharsets.UTF_8).split("\r?\n");
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].trim();
            if (line.isEmpty() || (i == 0 && Character.isLetter(line.charAt(0)))) continue;
            String[] cells = line.split(",");
            double[] x = new double[4];
            try {
                if (cells.length != 4) throw new NumberFormatException();
                for (int j = 0; j < 4; j++) x[j] = Double.parseDouble(cells[j].trim());
            } catch (NumberFormatException e) {
                reply(ex, 400, "application/json", "{\"error\":\"line " + (i + 1) + ": expected 4 numbers\"}");
                return;
            }
            out.append(x[2] < 2.45 ? "setosa" : x[3] < 1.75 ? "versicolor" : "virginica").append('\n');
        }
        reply(ex, 200, "text/csv", out.toString());
    }

    static void reply(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length == 0 ? -1 : bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }
}
