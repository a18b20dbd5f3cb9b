// The storage contract, run against every RaftStorage we have.

import { SimDisk } from "../sim/cluster.ts";
import { SimDiskStorage } from "../sim/raft/disk-storage.ts";
import { describeStorageContract } from "../sim/raft/storage-contract.ts";
import { MemoryStorage } from "../../src/raft/memory-storage.ts";

describeStorageContract("MemoryStorage", () => ({ storage: new MemoryStorage() }));

describeStorageContract("SimDiskStorage", () => {
  const disk = new SimDisk();
  return {
    storage: SimDiskStorage.open(disk),
    reopen: () => SimDiskStorage.open(disk),
    crash: () => {
      disk.loseUnsynced();
      return SimDiskStorage.open(disk);
    },
  };
});
