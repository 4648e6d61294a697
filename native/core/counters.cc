#include "counters.h"

namespace weft {

const char* const kCounterNames[kDropFirst] = {
    "tunRxPackets",  "tunRxBytes",      "tunTxPackets",        "tunTxBytes",      "udpRxPackets",  "udpRxBytes",
    "udpTxPackets",  "udpTxBytes",      "icmpUnreachableSent", "udpTxSyscalls",   "udpRxSyscalls", "tunRxSyscalls",
    "tunTxSyscalls", "tunRxGsoPackets", "tunTxGsoPackets",     "udpRxGroBatches",
};

const char* const kDropNames[kDropLast - kDropFirst] = {
    "noRoute",  "malformed", "badVni", "badMac",        "ttlExpired", "unknownPeer",    "txError",
    "badFlags", "ownMac",    "notIp",  "tunWriteError", "badSource",  "badDestination",
};

}  // namespace weft
