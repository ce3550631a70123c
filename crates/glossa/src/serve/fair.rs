//! The batcher's queue, shared fairly between clients.
//!
//! One FIFO for everyone gives each client a share of the answers in proportion to the requests
//! it sends: 128 connections flooding the server took 91% of the answers from 16 well-behaved
//! ones (docs/serving.md). Here each client (an address, or an identity a trusted proxy states;
//! see [`ClientId`]) has a queue of its own, and:
//!
//! - **Service** is start-time fair queuing over inputs: the next job comes from the client that
//!   has been served the fewest inputs so far, counted from when it last had nothing waiting. A
//!   client sending requests of 2,048 inputs and one sending requests of 8 get the same inputs
//!   per second while both wait; a client that was idle gets no credit for it.
//! - **Admission**: while the queue has room every request is taken. When it is full, a request
//!   from a client holding fewer queued jobs than the heaviest client takes the place of that
//!   client's newest job, which is refused as if it had found the queue full (longest queue
//!   drop); otherwise the new request is refused. So a flood fills only its own share.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Arc;

/// Who a request comes from, for fairness.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientId {
    /// The peer's address: IPv4 as is, IPv6 by its /64 prefix (one host usually holds a whole
    /// /64, and would otherwise count as 2^64 clients).
    Addr(IpAddr),
    /// The value of the header named by `--client-id-header`, set by a trusted proxy.
    Header(Arc<str>),
    /// Neither is known (a request that did not come through the listener, as in tests).
    Unknown,
}

impl ClientId {
    pub fn from_addr(addr: IpAddr) -> ClientId {
        match addr {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientId::Addr(IpAddr::V4(v4)),
                None => {
                    let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                    ClientId::Addr(IpAddr::V6(prefix.into()))
                }
            },
            v4 => ClientId::Addr(v4),
        }
    }
}

/// What a queued item must tell the queue: how much service it costs.
pub trait Inputs {
    /// Inputs (texts) the item holds.
    fn inputs(&self) -> usize;
}

struct ClientQueue<T> {
    items: VecDeque<T>,
    /// Virtual time at which this client's next item starts: inputs served to it, measured on
    /// the queue's clock.
    start: u64,
    /// When the client started waiting, in arrivals: breaks ties first come, first served.
    since: u64,
}

/// What [`FairQueue::push`] did with an item.
pub enum Admitted<T> {
    /// Queued.
    Queued,
    /// Queued, in place of another client's newest item, given back to be refused.
    QueuedDisplacing(T),
    /// The queue is full and the client holds its share or more: the item, given back.
    Refused(T),
}

/// Per-client queues of at most `max` items in all; see the module docs.
pub struct FairQueue<T> {
    clients: HashMap<ClientId, ClientQueue<T>>,
    len: usize,
    max: usize,
    /// The start time of the item served last: a client that starts waiting starts here.
    clock: u64,
    /// Items pushed so far.
    arrivals: u64,
}

impl<T: Inputs> FairQueue<T> {
    pub fn new(max: usize) -> FairQueue<T> {
        FairQueue {
            clients: HashMap::new(),
            len: 0,
            max: max.max(1),
            clock: 0,
            arrivals: 0,
        }
    }

    /// Items queued, all clients together.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Clients with something queued.
    #[cfg(test)]
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    pub fn push(&mut self, client: ClientId, item: T) -> Admitted<T> {
        let mut displaced = None;
        if self.len >= self.max {
            let own = self.clients.get(&client).map_or(0, |q| q.items.len());
            match self.heaviest() {
                Some((heaviest, queued)) if queued > own + 1 => {
                    displaced = self.pop_newest(&heaviest);
                }
                _ => return Admitted::Refused(item),
            }
        }
        let (clock, since) = (self.clock, self.arrivals);
        let queue = self.clients.entry(client).or_insert_with(|| ClientQueue {
            items: VecDeque::new(),
            start: clock,
            since,
        });
        self.arrivals += 1;
        queue.items.push_back(item);
        self.len += 1;
        match displaced {
            Some(item) => Admitted::QueuedDisplacing(item),
            None => Admitted::Queued,
        }
    }

    /// The next item to serve, if it has at most `room` inputs (an item with more stays first
    /// in line). The fairness order: the client with the earliest start time, then the one
    /// waiting longest.
    pub fn pop_within(&mut self, room: usize) -> Option<T> {
        let next = self
            .clients
            .iter()
            .min_by_key(|(_, q)| (q.start, q.since))
            .map(|(client, _)| client.clone())?;
        let queue = self.clients.get_mut(&next).expect("chosen from the map");
        if queue
            .items
            .front()
            .expect("queues are never empty")
            .inputs()
            > room
        {
            return None;
        }
        let item = queue.items.pop_front().expect("checked above");
        self.clock = self.clock.max(queue.start);
        queue.start += item.inputs().max(1) as u64;
        if queue.items.is_empty() {
            self.clients.remove(&next);
        }
        self.len -= 1;
        Some(item)
    }

    /// Every item, emptying the queue (the batcher stopping).
    pub fn drain(&mut self) -> Vec<T> {
        self.len = 0;
        self.clients
            .drain()
            .flat_map(|(_, q)| q.items.into_iter())
            .collect()
    }

    /// The client with the most items queued, and how many.
    fn heaviest(&self) -> Option<(ClientId, usize)> {
        self.clients
            .iter()
            .map(|(client, q)| (client, q.items.len()))
            .max_by_key(|&(_, queued)| queued)
            .map(|(client, queued)| (client.clone(), queued))
    }

    fn pop_newest(&mut self, client: &ClientId) -> Option<T> {
        let queue = self.clients.get_mut(client)?;
        let item = queue.items.pop_back()?;
        if queue.items.is_empty() {
            self.clients.remove(client);
        }
        self.len -= 1;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An item of `inputs` texts, tagged with who sent it and its number.
    #[derive(Debug, PartialEq)]
    struct Item(&'static str, usize, usize);

    impl Inputs for Item {
        fn inputs(&self) -> usize {
            self.2
        }
    }

    fn id(name: &str) -> ClientId {
        ClientId::Header(name.into())
    }

    fn serve_all(queue: &mut FairQueue<Item>) -> Vec<&'static str> {
        std::iter::from_fn(|| queue.pop_within(usize::MAX))
            .map(|item| item.0)
            .collect()
    }

    #[test]
    fn a_client_with_a_long_queue_does_not_hold_back_one_that_arrives_later() {
        let mut queue = FairQueue::new(100);
        for n in 0..6 {
            assert!(matches!(
                queue.push(id("flood"), Item("flood", n, 8)),
                Admitted::Queued
            ));
        }
        assert_eq!(queue.pop_within(usize::MAX), Some(Item("flood", 0, 8)));
        for n in 0..2 {
            queue.push(id("polite"), Item("polite", n, 8));
        }
        assert_eq!(queue.clients(), 2);
        // The polite client starts at the clock (the start of the flood's first job), so it
        // goes next, then the two alternate.
        assert_eq!(
            serve_all(&mut queue),
            ["polite", "flood", "polite", "flood", "flood", "flood", "flood"]
        );
        assert!(queue.is_empty());
    }

    #[test]
    fn service_is_shared_by_inputs_not_by_requests() {
        let mut queue = FairQueue::new(100);
        for n in 0..4 {
            queue.push(id("big"), Item("big", n, 32));
        }
        for n in 0..16 {
            queue.push(id("small"), Item("small", n, 8));
        }
        let order = serve_all(&mut queue);
        // Every 32-input request of "big" is matched by four 8-input requests of "small".
        let first_five: Vec<_> = order[..10].to_vec();
        assert_eq!(
            first_five.iter().filter(|c| **c == "big").count(),
            2,
            "{order:?}"
        );
    }

    #[test]
    fn a_full_queue_makes_room_for_a_light_client_at_the_heaviest_ones_expense() {
        let mut queue = FairQueue::new(4);
        for n in 0..4 {
            queue.push(id("flood"), Item("flood", n, 1));
        }
        match queue.push(id("polite"), Item("polite", 0, 1)) {
            Admitted::QueuedDisplacing(item) => assert_eq!(item, Item("flood", 3, 1)),
            _ => panic!("the polite request should displace the flood's newest"),
        }
        match queue.push(id("polite"), Item("polite", 1, 1)) {
            Admitted::QueuedDisplacing(item) => assert_eq!(item, Item("flood", 2, 1)),
            _ => panic!("2 queued against the flood's 3: room is made again"),
        }
        // 2 each now: the flood may not take back a place, nor the polite client take more.
        assert!(matches!(
            queue.push(id("flood"), Item("flood", 9, 1)),
            Admitted::Refused(Item("flood", 9, 1))
        ));
        assert!(matches!(
            queue.push(id("polite"), Item("polite", 2, 1)),
            Admitted::Refused(_)
        ));
        assert_eq!(queue.len(), 4);
        assert_eq!(serve_all(&mut queue).len(), 4);
    }

    #[test]
    fn an_item_larger_than_the_room_left_waits_first_in_line() {
        let mut queue = FairQueue::new(10);
        queue.push(id("a"), Item("a", 0, 5));
        assert_eq!(queue.pop_within(4), None);
        assert_eq!(queue.len(), 1);
        assert_eq!(queue.pop_within(5), Some(Item("a", 0, 5)));
    }

    #[test]
    fn an_idle_client_gets_no_credit_for_its_idle_time() {
        let mut queue = FairQueue::new(100);
        queue.push(id("early"), Item("early", 0, 1));
        assert_eq!(serve_all(&mut queue), ["early"]);
        for n in 0..3 {
            queue.push(id("busy"), Item("busy", n, 10));
        }
        for _ in 0..2 {
            queue.pop_within(usize::MAX);
        }
        // "early" comes back at the clock (10), not at its old start (1), which would have
        // given it two jobs in a row; level again at 20, "busy" (waiting longer) goes first.
        queue.push(id("early"), Item("early", 1, 10));
        queue.push(id("early"), Item("early", 2, 10));
        assert_eq!(serve_all(&mut queue), ["early", "busy", "early"]);
    }

    #[test]
    fn ipv6_clients_are_grouped_by_their_64_bit_prefix_and_mapped_ipv4_is_ipv4() {
        let a = ClientId::from_addr("2001:db8:1:2::1".parse().unwrap());
        let b = ClientId::from_addr("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = ClientId::from_addr("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            ClientId::from_addr("::ffff:10.0.0.1".parse().unwrap()),
            ClientId::from_addr("10.0.0.1".parse().unwrap())
        );
    }
}
