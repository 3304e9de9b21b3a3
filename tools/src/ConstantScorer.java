// `npm run bench`'s Java constant-answer scorer for proxy mode: com.sun.net.httpserver answering every
// request with the same short body once it has read the request's, the shape of the Java scorers (SAS's,
// H2O's) that proxy mode fronts. The bench runs it with `java ConstantScorer.java PORT` when Java is there.
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

public class ConstantScorer {
    public static void main(String[] args) throws Exception {
        // Without TCP_NODELAY, Java's HttpServer answers keep-alive clients about once per 40 ms each.
        System.setProperty("sun.net.httpserver.nodelay", "true");
        byte[] body = "setosa\n".getBytes();
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 1024);
        server.setExecutor(Executors.newFixedThreadPool(Runtime.getRuntime().availableProcessors()));
        server.createContext("/", ex -> {
            ex.getRequestBody().readAllBytes();
            ex.getResponseHeaders().set("Content-Type", "text/csv");
            ex.sendResponseHeaders(200, body.length);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        });
        server.start();
    }
}
