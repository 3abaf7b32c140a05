package carpipe.flume;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.flume.Channel;
import org.apache.flume.Context;
import org.apache.flume.Event;
import org.apache.flume.EventDeliveryException;
import org.apache.flume.Transaction;
import org.apache.flume.conf.BatchSizeSupported;
import org.apache.flume.conf.Configurable;
import org.apache.flume.conf.ConfigurationException;
import org.apache.flume.instrumentation.SinkCounter;
import org.apache.flume.sink.AbstractSink;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.DistributedFileSystem;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's HDFS sink (flume/agent_conf.py renders its config; flume/extensions.py builds it): event
 * bodies as JSON lines in {@code <path>/<window header>/}, one file per (window, Kafka partition) holding
 * one contiguous run of offsets, named as carpipe/offset_files.py states:
 * {@code <prefix>+<partition>+<start>+<end><fileSuffix>} once committed,
 * {@code <prefix>+<partition>+<start><fileSuffix><inUseSuffix>} while open. WindowInterceptor sets the
 * window header and keeps the Kafka source's partition and offset headers.
 *
 * <p>Why not Flume's HDFS sink: it hands every event to a writer thread and waits (two context switches
 * per event) and expands its path pattern per event; it names files by a counter, so what they hold is
 * known only by reading them. This sink takes a batch from the channel and hands it to its HDFS thread
 * once: lay out, write, hflush, then the channel transaction commits. HDFS calls run on that thread
 * because Flume stops a sink by interrupting its runner thread, and an interrupt must not land in an
 * HDFS stream.
 *
 * <p>Delivery into HDFS: <b>exactly once per Kafka offset</b>, with one writer per partition (the agent
 * routes each partition to one channel and one sink). The sink keeps, per partition, the offset below
 * which everything is durable in HDFS (hflushed or committed), starting from {@code resumeOffsets}, which
 * the runner reads from HDFS's file names (flume/recovery.py). An event below it is a re-delivery (the
 * source's uncommitted batch, a file-channel replay, a rolled-back batch) and is dropped. A file's lines
 * are consecutive offsets from its start, so the committed name, given by an atomic rename on close, is
 * exact; an event that does not follow its file's last offset starts a new file.
 *
 * <p>Failures: a failed write, flush or create rolls the batch back into the channel and marks every open
 * file pending; before anything else is written, each pending file is finalised at its last hflushed
 * length (lease recovered, the tail of the failed batch truncated away, renamed to its committed name;
 * a file with nothing flushed is deleted), on a new HDFS client. A file whose close or rename failed is
 * pending the same way. If the agent dies, the runner finalises what is left open (flume/recovery.py):
 * there the end is read from the complete lines, which are consecutive offsets too.
 *
 * <p>Files close {@code idleSeconds} after their last write, {@code rollSeconds} after they opened, at
 * {@code rollBytes}, and all of them when the sink stops. An empty channel is polled every
 * {@code pollMillis}, not backed off from for up to 5 s like Flume's sink runner does.
 */
public final class WindowSink extends AbstractSink implements Configurable, BatchSizeSupported {
  private static final Logger LOG = LoggerFactory.getLogger(WindowSink.class);
  private static final String NO_WINDOW = WindowInterceptor.NO_TIMESTAMP;

  private URI base;
  private String filePrefix;
  private String fileSuffix;
  private String inUseSuffix;
  private int batchSize;
  private long rollMillis;
  private long idleMillis;
  private long rollBytes;
  private long callTimeoutMillis;
  private long pollMillis;
  private Map<Integer, Long> resume;

  private SinkCounter counter;
  private Configuration conf;
  // Touched only on the HDFS thread.
  private FileSystem fs;
  private ExecutorService hdfs;
  private final Map<String, OpenFile> open = new LinkedHashMap<>();
  private final List<OpenFile> pending = new ArrayList<>();
  private final Map<Integer, Long> durable = new HashMap<>();  // partition -> first offset not yet in HDFS

  private final class OpenFile {
    final String key;
    final int partition;
    final long start;
    final Path dir;
    final Path inUse;
    final FSDataOutputStream out;
    final long opened;
    long next;          // offset after the last line written
    long bytes;
    long flushedNext;   // ... and as of the last successful hflush
    long flushedBytes;
    long lastWrite;

    OpenFile(String key, String window, int partition, long start, long now) throws IOException {
      this.key = key;
      this.partition = partition;
      this.start = next = flushedNext = start;
      dir = new Path(base.toString() + "/" + window);
      inUse = new Path(dir, filePrefix + "+" + partition + "+" + start + fileSuffix + inUseSuffix);
      try {
        out = fs.create(inUse, false);
      } catch (FileAlreadyExistsException e) {
        throw new IOException(inUse + " exists: a crashed run's file not recovered yet (flume.runner "
            + "recovers them before the agent starts)", e);
      }
      opened = lastWrite = now;
      counter.incrementConnectionCreatedCount();
    }

    Path committed(long end) {
      return new Path(dir, filePrefix + "+" + partition + "+" + start + "+" + end + fileSuffix);
    }
  }

  @Override
  public void configure(Context context) {
    String path = context.getString("path", "");
    if (path.isEmpty()) {
      throw new ConfigurationException("path (the HDFS base URI, e.g. hdfs://namenode:9000/Cars) is required");
    }
    base = URI.create(path.replaceAll("/+$", ""));
    filePrefix = context.getString("filePrefix", "events");
    fileSuffix = context.getString("fileSuffix", "");
    inUseSuffix = context.getString("inUseSuffix", ".tmp");
    if (inUseSuffix.isEmpty()) {
      throw new ConfigurationException("inUseSuffix must not be empty: open files must be told apart");
    }
    batchSize = (int) Math.min(positive(context, "batchSize", 1000), Integer.MAX_VALUE);
    rollMillis = positive(context, "rollSeconds", 900) * 1000L;
    idleMillis = positive(context, "idleSeconds", 30) * 1000L;
    rollBytes = positive(context, "rollBytes", 128L << 20);
    callTimeoutMillis = positive(context, "callTimeoutSeconds", 60) * 1000L;
    pollMillis = positive(context, "pollMillis", 200);
    resume = resumeOffsets(context.getString("resumeOffsets", ""));
  }

  /** "partition:offset,...": per partition, the first offset not in HDFS yet (from flume.recovery). */
  private static Map<Integer, Long> resumeOffsets(String value) {
    Map<Integer, Long> out = new HashMap<>();
    for (String item : value.split(",")) {
      if (item.isBlank()) {
        continue;
      }
      String[] kv = item.trim().split(":", 2);
      try {
        out.put(Integer.parseInt(kv[0]), Long.parseLong(kv[1]));
      } catch (NumberFormatException | ArrayIndexOutOfBoundsException e) {
        throw new ConfigurationException("resumeOffsets must be partition:offset pairs separated by commas, not '"
            + value + "'");
      }
    }
    return out;
  }

  private static long positive(Context context, String key, long fallback) {
    String value = context.getString(key, String.valueOf(fallback)).trim();
    long n;
    try {
      n = Long.parseLong(value);
    } catch (NumberFormatException e) {
      n = 0;
    }
    if (n <= 0) {
      throw new ConfigurationException(key + " must be a positive whole number, not '" + value + "'");
    }
    return n;
  }

  @Override
  public long getBatchSize() {
    return batchSize;
  }

  @Override
  public synchronized void start() {
    counter = counter == null ? new SinkCounter(getName()) : counter;
    conf = new Configuration();
    // Hadoop's shutdown hook would close the file system while Flume's stops this sink and closes files.
    conf.setBoolean("fs.automatic.close", false);
    try {
      fs = FileSystem.newInstance(base, conf);
    } catch (IOException e) {
      throw new IllegalStateException("cannot reach HDFS at " + base + ": " + e, e);
    }
    open.clear();
    pending.clear();
    durable.clear();
    durable.putAll(resume);
    hdfs = Executors.newSingleThreadExecutor(r -> new Thread(r, getName() + "-hdfs"));
    counter.start();
    super.start();
    LOG.info("{} writing to {}/<window>/{}+<partition>+<start>+<end>{}, resuming at {}", getName(), base,
        filePrefix, fileSuffix, resume.isEmpty() ? "the first offset seen" : resume);
  }

  @Override
  public synchronized void stop() {
    if (hdfs == null) {  // never started
      super.stop();
      return;
    }
    try {
      call(() -> {
        for (OpenFile f : new ArrayList<>(open.values())) {
          close(f);
        }
        finishPending();
        return null;
      });
    } catch (IOException e) {
      LOG.error("{}: closing files on stop failed; the next run recovers them", getName(), e);
    }
    hdfs.shutdown();
    try {
      fs.close();
    } catch (IOException e) {
      LOG.warn("{}: closing the HDFS client: {}", getName(), e.toString());
    }
    counter.stop();
    super.stop();
  }

  @Override
  public Status process() throws EventDeliveryException {
    Channel channel = getChannel();
    Transaction tx = channel.getTransaction();
    List<Event> batch = new ArrayList<>();
    boolean interrupted = false;
    tx.begin();
    try {
      for (Event e; batch.size() < batchSize && (e = channel.take()) != null; ) {
        batch.add(e);
      }
      int taken = batch.size();
      if (taken == 0) {
        counter.incrementBatchEmptyCount();
      } else if (taken < batchSize) {
        counter.incrementBatchUnderflowCount();
      } else {
        counter.incrementBatchCompleteCount();
      }
      counter.addToEventDrainAttemptCount(taken);
      long now = System.currentTimeMillis();
      interrupted = Thread.interrupted();  // the runner is stopping: finish this batch first
      call(() -> {
        write(batch, now);
        closeExpired(now);
        return null;
      });
      // An interrupt must not reach the channel's commit either (the file channel writes with NIO).
      interrupted |= Thread.interrupted();
      tx.commit();
      counter.addToEventDrainSuccessCount(taken);
    } catch (IOException e) {
      interrupted |= Thread.interrupted();
      tx.rollback();
      counter.incrementEventWriteFail();
      throw new EventDeliveryException(getName() + ": writing " + batch.size() + " event(s) to HDFS failed", e);
    } catch (Throwable t) {
      interrupted |= Thread.interrupted();
      tx.rollback();
      counter.incrementEventWriteOrChannelFail(t);
      if (t instanceof Error) {
        throw (Error) t;
      }
      throw new EventDeliveryException(getName() + ": " + t, t);
    } finally {
      tx.close();
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
    if (batch.isEmpty() && !Thread.currentThread().isInterrupted()) {
      try {
        Thread.sleep(pollMillis);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
    return Status.READY;
  }

  private static long header(Event e, String name) {
    String value = e.getHeaders().get(name);
    try {
      return Long.parseLong(value);
    } catch (NumberFormatException ex) {
      throw new IllegalArgumentException("event without a numeric '" + name + "' header (" + value
          + "): this sink needs Flume's Kafka source and WindowInterceptor in front of it");
    }
  }

  /** HDFS thread: drop what HDFS already holds, append the rest to its (window, partition) file in
   * offset order, then hflush every file written to. */
  private void write(List<Event> batch, long now) throws IOException {
    finishPending();
    Map<OpenFile, ByteArrayOutputStream> lines = new LinkedHashMap<>();
    List<OpenFile> ended = new ArrayList<>();
    Map<Integer, long[]> dropped = new HashMap<>();  // partition -> {count, first, last}
    Map<Integer, Long> next = new HashMap<>(durable);  // partition -> the offset expected next in this batch
    try {
      for (Event e : batch) {
        int partition = (int) header(e, WindowInterceptor.PARTITION_HEADER);
        long offset = header(e, WindowInterceptor.OFFSET_HEADER);
        long expected = next.getOrDefault(partition, -1L);
        if (offset < expected) {
          long[] d = dropped.computeIfAbsent(partition, p -> new long[] {0, offset, offset});
          d[0]++;
          d[2] = offset;
          continue;
        }
        if (expected >= 0 && offset > expected) {
          LOG.warn("{}: partition {} offsets {}-{} never reached this sink (compacted, transaction markers, "
              + "or lost upstream; the audit reports the gap)", getName(), partition, expected, offset - 1);
        }
        String window = e.getHeaders().get(WindowInterceptor.WINDOW_HEADER);
        window = window == null ? NO_WINDOW : window;
        String key = window + "/" + partition;
        OpenFile f = open.get(key);
        if (f != null && f.next != offset) {  // not its next offset: that file ends, a new run starts
          open.remove(key);
          ended.add(f);
          f = null;
        }
        if (f == null) {
          f = new OpenFile(key, window, partition, offset, now);
          open.put(key, f);
        }
        ByteArrayOutputStream out = lines.computeIfAbsent(f, x -> new ByteArrayOutputStream(1 << 16));
        out.writeBytes(e.getBody());
        out.write('\n');
        f.next = offset + 1;
        next.put(partition, f.next);
      }
      for (Map.Entry<OpenFile, ByteArrayOutputStream> l : lines.entrySet()) {
        OpenFile f = l.getKey();
        l.getValue().writeTo(f.out);
        f.bytes += l.getValue().size();
        f.lastWrite = now;
      }
      // In the order written, so a partition's later file is never durable before its earlier one.
      for (OpenFile f : lines.keySet()) {
        f.out.hflush();
        f.flushedBytes = f.bytes;
        f.flushedNext = f.next;
        durable.merge(f.partition, f.next, Math::max);
      }
    } catch (IOException | RuntimeException e) {
      for (OpenFile f : lines.keySet()) {
        f.next = f.flushedNext;  // what the failed batch appended is not theirs
      }
      pending.addAll(ended);
      failed();
      throw e;
    }
    for (Map.Entry<Integer, long[]> d : dropped.entrySet()) {
      LOG.info("{}: dropped {} event(s) of partition {} already in HDFS (offsets {}-{})", getName(),
          d.getValue()[0], d.getKey(), d.getValue()[1], d.getValue()[2]);
    }
    for (OpenFile f : ended) {
      close(f);
    }
    for (OpenFile f : lines.keySet()) {
      if (f.bytes >= rollBytes && open.get(f.key) == f) {
        close(f);
      }
    }
  }

  /** HDFS thread: close files idle or open long enough. */
  private void closeExpired(long now) {
    for (OpenFile f : new ArrayList<>(open.values())) {
      if (now - f.lastWrite >= idleMillis || now - f.opened >= rollMillis) {
        close(f);
      }
    }
  }

  /** HDFS thread: close and rename to the committed name. Its lines are durable already, so a failure
   * leaves it pending (finalised before the next write) instead of failing a batch. */
  private void close(OpenFile f) {
    open.remove(f.key, f);
    try {
      f.out.close();
      rename(f);
      counter.incrementConnectionClosedCount();
    } catch (IOException e) {
      counter.incrementConnectionFailedCount();
      LOG.error("{}: closing {} failed; finalising it before the next write", getName(), f.inUse, e);
      pending.add(f);
    }
  }

  private void rename(OpenFile f) throws IOException {
    if (!fs.rename(f.inUse, f.committed(f.flushedNext - 1))) {
      throw new IOException("rename of " + f.inUse + " to " + f.committed(f.flushedNext - 1) + " refused");
    }
  }

  /** HDFS thread, after a failed write: every open file becomes pending, on a fresh client (the old one
   * may hold broken streams, and a lease held by another client can be recovered). */
  private void failed() {
    for (OpenFile f : open.values()) {
      counter.incrementConnectionFailedCount();
      pending.add(f);
    }
    open.clear();
    try {
      fs.close();  // also ends the streams it had open
    } catch (IOException e) {
      LOG.warn("{}: closing the failed HDFS client: {}", getName(), e.toString());
    }
    try {
      fs = FileSystem.newInstance(base, conf);
    } catch (IOException e) {
      LOG.warn("{}: new HDFS client: {}", getName(), e.toString());  // retried by finishPending
    }
  }

  /** HDFS thread: finalise each pending file at its last hflushed length; throws while HDFS refuses. */
  private void finishPending() throws IOException {
    if (pending.isEmpty()) {
      return;
    }
    if (fs == null) {
      fs = FileSystem.newInstance(base, conf);
    }
    for (OpenFile f : new ArrayList<>(pending)) {
      if (!fs.exists(f.inUse)) {
        throw new IOException(f.inUse + " is gone: cannot finalise it");
      }
      if (fs instanceof DistributedFileSystem dfs) {
        long until = System.currentTimeMillis() + callTimeoutMillis / 2;
        while (!dfs.recoverLease(f.inUse)) {
          if (System.currentTimeMillis() > until) {
            throw new IOException("lease of " + f.inUse + " not recovered in time");
          }
          sleep(500);
        }
      }
      long length = fs.getFileStatus(f.inUse).getLen();
      if (length < f.flushedBytes) {
        throw new IOException(f.inUse + " holds " + length + " bytes, " + f.flushedBytes
            + " were hflushed: HDFS lost acknowledged data");
      }
      if (f.flushedBytes == 0) {
        fs.delete(f.inUse, false);
      } else {
        if (length > f.flushedBytes && !fs.truncate(f.inUse, f.flushedBytes)) {
          waitClosed(f.inUse);
        }
        rename(f);
      }
      pending.remove(f);
      LOG.info("{}: finalised {} at its last flushed offset {}", getName(), f.inUse, f.flushedNext - 1);
    }
  }

  /** A truncate that did not end on a block boundary finishes once HDFS has recovered the last block. */
  private void waitClosed(Path path) throws IOException {
    if (!(fs instanceof DistributedFileSystem dfs)) {
      throw new IOException("truncate of " + path + " is still in progress on " + fs.getUri());
    }
    long until = System.currentTimeMillis() + callTimeoutMillis / 2;
    while (!dfs.isFileClosed(path)) {
      if (System.currentTimeMillis() > until) {
        throw new IOException("truncate of " + path + " did not finish in time");
      }
      sleep(500);
    }
  }

  private static void sleep(long millis) throws IOException {
    try {
      Thread.sleep(millis);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new IOException("interrupted", e);
    }
  }

  /** Run on the HDFS thread and wait, however often this thread is interrupted meanwhile. */
  private <T> T call(Callable<T> task) throws IOException {
    Future<T> result = hdfs.submit(task);
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(callTimeoutMillis);
    boolean interrupted = false;
    try {
      while (true) {
        try {
          return result.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        } catch (InterruptedException e) {
          interrupted = true;
        } catch (TimeoutException e) {
          result.cancel(true);
          throw new IOException("HDFS call timed out after " + callTimeoutMillis + " ms");
        } catch (ExecutionException e) {
          if (e.getCause() instanceof IOException) {
            throw (IOException) e.getCause();
          }
          throw new IOException(e.getCause());
        }
      }
    } finally {
      if (interrupted) {
        Thread.currentThread().interrupt();
      }
    }
  }
}
