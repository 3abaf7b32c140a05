import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.DistributedFileSystem;

/**
 * Forces HDFS lease recovery of files a killed writer left open, and waits until all are closed.
 * `hdfs debug recoverLease` does the same for one path per JVM; this does all paths in one JVM
 * (run as a single-file source program by flume.recovery). Like HBase's lease recovery, it starts
 * recovery once and then polls isFileClosed (calling recoverLease again restarts block recovery),
 * re-triggering only a recovery that seems stuck.
 * Usage: java -cp <hadoop conf>:<hadoop jars> RecoverLeases.java hdfs://nn:port/path ...
 */
public class RecoverLeases {
    static final int TIMEOUT_SECONDS = 120;
    static final int RETRIGGER_SECONDS = 20;

    public static void main(String[] args) throws Exception {
        List<Path> open = new ArrayList<>();
        for (String arg : args) {
            open.add(new Path(arg));
        }
        if (open.isEmpty()) {
            return;
        }
        DistributedFileSystem fs = (DistributedFileSystem) open.get(0).getFileSystem(new Configuration());
        for (int second = 0; !open.isEmpty() && second < TIMEOUT_SECONDS; second++) {
            boolean trigger = second % RETRIGGER_SECONDS == 0;
            if (second > 0) {
                Thread.sleep(1000);
            }
            open.removeIf(p -> {
                try {
                    boolean closed = trigger ? fs.recoverLease(p) : fs.isFileClosed(p);
                    if (closed) {
                        System.out.println("CLOSED " + p);
                    }
                    return closed;
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        }
        for (Path p : open) {
            System.out.println("STILL OPEN " + p);
        }
        fs.close();
        System.exit(open.isEmpty() ? 0 : 1);
    }
}
