import carpipe.flume.WindowInterceptor;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

import org.apache.flume.Context;
import org.apache.flume.Event;
import org.apache.flume.conf.ConfigurationException;
import org.apache.flume.event.EventBuilder;
import org.apache.flume.interceptor.Interceptor;

/**
 * Test probe (tests/flume/test_window_interceptor.py): each stdin line "windowSeconds TAB timestamp-or-'-'
 * TAB body-hex" goes through a WindowInterceptor as the Kafka source would hand it over (with the source's
 * other headers); prints "window-header TAB body-hex TAB header-names", or "config-error TAB message".
 */
public class InterceptorProbe {
  public static void main(String[] args) throws Exception {
    HexFormat hex = HexFormat.of();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    for (String line; (line = in.readLine()) != null; ) {
      String[] f = line.split("\t", -1);
      WindowInterceptor.Builder builder = new WindowInterceptor.Builder();
      try {
        builder.configure(new Context(Map.of("windowSeconds", f[0])));
      } catch (ConfigurationException e) {
        System.out.println("config-error\t" + e.getMessage());
        continue;
      }
      Interceptor interceptor = builder.build();
      Map<String, String> headers = new HashMap<>(Map.of("topic", "t", "partition", "0", "offset", "7", "key", "k"));
      if (!f[1].equals("-")) {
        headers.put("timestamp", f[1]);
      }
      Event event = EventBuilder.withBody(hex.parseHex(f[2]), headers);
      List<Event> out = interceptor.intercept(new ArrayList<>(List.of(event)));
      Event e = out.get(0);
      System.out.println(e.getHeaders().get("window") + "\t" + hex.formatHex(e.getBody()) + "\t"
          + String.join(",", new TreeSet<>(e.getHeaders().keySet())));
    }
  }
}
