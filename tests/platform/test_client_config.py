"""Client configuration toward real clusters (hermetic): Hadoop clients follow $HADOOP_CONF_DIR, the
embedded HDFS keeps its own configuration."""

from __future__ import annotations

from carpipe.config import Settings
from carpipe.jvm import hadoop_java
from stack.services import Stack


def classpath(cmd: list[str]) -> list[str]:
    return cmd[cmd.index("-cp") + 1].split(":")


def test_hadoop_clients_use_hadoop_conf_dir_when_set(tmp_path, monkeypatch):
    cluster = tmp_path / "cluster-conf"
    monkeypatch.setenv("HADOOP_CONF_DIR", str(cluster))
    s = Settings(state_dir=tmp_path / "state")
    assert s.hadoop_conf_dir == cluster
    assert classpath(hadoop_java(s, "Main"))[0] == str(cluster)
    # the embedded NameNode is still started on the stack's own files, never on the cluster's
    namenode = Stack(s).namenode()
    assert classpath(namenode.command)[0] == str(tmp_path / "state" / "conf" / "hadoop")
    assert all(str(cluster) not in str(p) for p in namenode.files)


def test_without_hadoop_conf_dir_clients_use_the_embedded_configuration(tmp_path, monkeypatch):
    monkeypatch.delenv("HADOOP_CONF_DIR", raising=False)
    s = Settings(state_dir=tmp_path)
    assert s.hadoop_conf_dir == Stack(s).hadoop_conf == tmp_path / "conf" / "hadoop"
