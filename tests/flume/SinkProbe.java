import carpipe.flume.WindowSink;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

import javax.management.MBeanServer;
import javax.management.ObjectName;

import org.apache.flume.Channel;
import org.apache.flume.Context;
import org.apache.flume.Event;
import org.apache.flume.EventDeliveryException;
import org.apache.flume.Transaction;
import org.apache.flume.channel.MemoryChannel;
import org.apache.flume.conf.Configurables;
import org.apache.flume.conf.ConfigurationException;
import org.apache.flume.event.EventBuilder;

/**
 * Test probe (tests/flume/test_window_sink.py): drives a WindowSink over a memory channel, one stdin
 * command per line, one answer line (starting with "= ") per command:
 * <ul>
 *   <li>{@code start k=v ...}: configure and start the sink ("ok" or "config-error TAB message");</li>
 *   <li>{@code put window-or-'-' partition offset body-hex}: one event into the channel ("ok");</li>
 *   <li>{@code process}: one sink transaction ("ok" or "error TAB message TAB cause");</li>
 *   <li>{@code queued}: events left in the channel;</li>
 *   <li>{@code counter Name}: a sink counter, as Flume's metrics report it;</li>
 *   <li>{@code sleep ms}; {@code stop}: stop the sink ("ok").</li>
 * </ul>
 * At the end of its input it exits, whether or not the sink was stopped.
 */
public class SinkProbe {
  private static final String NAME = "probe-sink";
  private static final String ANSWER = "= ";

  public static void main(String[] args) throws Exception {
    HexFormat hex = HexFormat.of();
    MemoryChannel channel = new MemoryChannel();
    channel.setName("probe-channel");
    // keep-alive 0: a take from an empty channel answers at once instead of waiting 3 s for an event.
    Configurables.configure(channel, new Context(Map.of("capacity", "10000", "transactionCapacity", "10000",
        "keep-alive", "0")));
    channel.start();
    WindowSink sink = new WindowSink();
    sink.setName(NAME);
    sink.setChannel(channel);
    MBeanServer mbeans = ManagementFactory.getPlatformMBeanServer();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
    for (String line; (line = in.readLine()) != null; ) {
      String[] f = line.split(" ", -1);
      switch (f[0]) {
        case "start" -> {
          Map<String, String> conf = new HashMap<>();
          for (int i = 1; i < f.length; i++) {
            String[] kv = f[i].split("=", 2);
            conf.put(kv[0], kv.length > 1 ? kv[1] : "");
          }
          try {
            Configurables.configure(sink, new Context(conf));
          } catch (ConfigurationException e) {
            answer("config-error\t" + e.getMessage());
            continue;
          }
          sink.start();
          answer("ok");
        }
        case "put" -> {
          Map<String, String> headers = new HashMap<>(Map.of("partition", f[2], "offset", f[3]));
          if (!f[1].equals("-")) {
            headers.put("window", f[1]);
          }
          Event event = EventBuilder.withBody(hex.parseHex(f[4]), headers);
          Transaction tx = channel.getTransaction();
          tx.begin();
          channel.put(event);
          tx.commit();
          tx.close();
          answer("ok");
        }
        case "process" -> {
          try {
            sink.process();
            answer("ok");
          } catch (EventDeliveryException e) {
            answer("error\t" + e.getMessage() + "\t" + e.getCause());
          }
        }
        case "queued" -> answer(queued(channel));
        case "counter" -> answer(
            mbeans.getAttribute(new ObjectName("org.apache.flume.sink:type=" + NAME), f[1]));
        case "sleep" -> {
          Thread.sleep(Long.parseLong(f[1]));
          answer("ok");
        }
        case "stop" -> {
          sink.stop();
          answer("ok");
        }
        default -> throw new IllegalArgumentException("unknown command: " + line);
      }
    }
    System.exit(0);  // end of input: exit even with the sink still running (its threads are not daemons)
  }

  /** Answers are marked: the sink's and Hadoop's logs may share stdout. */
  private static void answer(Object text) {
    System.out.println(ANSWER + text);
  }

  /** Events in the channel: taken in one transaction that is rolled back. */
  private static int queued(Channel channel) {
    Transaction tx = channel.getTransaction();
    tx.begin();
    int n = 0;
    while (channel.take() != null) {
      n++;
    }
    tx.rollback();
    tx.close();
    return n;
  }
}
