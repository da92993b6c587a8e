//! The bridge between a [`Controller`] and the Slint window: copies the [`ViewModel`] into the
//! `Api` global and turns `Api`'s callbacks into controller calls. Nothing here decides anything.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use edge_agent::{AgentEvent, Clock};
use slint::{ComponentHandle, ModelRc, SharedString, VecModel};

use crate::controller::{self, AgentPort, Controller, MeetingLine, ViewModel};
use crate::ui::{self, Api, AppWindow};

/// Windows narrower than this (logical px) use the small-screen layout.
pub const COMPACT_BELOW: f32 = 1000.0;

/// A window driven by a controller; cheap to clone (shared on the UI thread).
pub struct Screen<A> {
    window: AppWindow,
    controller: Rc<RefCell<Controller<A>>>,
    clock: Arc<dyn Clock>,
}

impl<A> Clone for Screen<A> {
    fn clone(&self) -> Self {
        Self {
            window: self.window.clone_strong(),
            controller: self.controller.clone(),
            clock: self.clock.clone(),
        }
    }
}

impl<A: AgentPort + 'static> Screen<A> {
    /// Creates the window on the current thread's Slint platform and shows the first view.
    pub fn new(
        controller: Controller<A>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, slint::PlatformError> {
        let screen = Self {
            window: AppWindow::new()?,
            controller: Rc::new(RefCell::new(controller)),
            clock,
        };
        screen.wire();
        screen.refresh();
        Ok(screen)
    }

    /// The Slint window.
    pub fn window(&self) -> &AppWindow {
        &self.window
    }

    /// The controller, for the binary's event loop and tests.
    pub fn controller(&self) -> &Rc<RefCell<Controller<A>>> {
        &self.controller
    }

    /// Recomputes the view at the clock's now and copies it into `Api`, with the layout that fits
    /// the window's current size.
    pub fn refresh(&self) {
        let view = self.controller.borrow().view(self.clock.unix_ms());
        let api = self.window.global::<Api>();
        apply(&view, &api);
        let window = self.window.window();
        let width = window.size().to_logical(window.scale_factor()).width;
        api.set_compact(width > 0.0 && width < COMPACT_BELOW);
    }

    /// Hands an agent event to the controller and re-renders.
    pub fn on_event(&self, event: &AgentEvent) {
        self.controller
            .borrow_mut()
            .on_event(event, self.clock.unix_ms());
        self.refresh();
    }

    fn wire(&self) {
        let api = self.window.global::<Api>();
        let screen = self.weak();
        api.on_check_in(move || {
            if let Some((controller, clock, window)) = screen.upgrade() {
                controller.borrow_mut().check_in(clock.unix_ms());
                apply(
                    &controller.borrow().view(clock.unix_ms()),
                    &window.global::<Api>(),
                );
            }
        });
        let screen = self.weak();
        api.on_book_now(move |minutes| {
            let Ok(minutes) = u16::try_from(minutes) else {
                return;
            };
            if let Some((controller, clock, window)) = screen.upgrade() {
                controller.borrow_mut().book_now(minutes, clock.unix_ms());
                apply(
                    &controller.borrow().view(clock.unix_ms()),
                    &window.global::<Api>(),
                );
            }
        });
    }

    fn weak(&self) -> WeakScreen<A> {
        WeakScreen {
            window: self.window.as_weak(),
            controller: Rc::downgrade(&self.controller),
            clock: self.clock.clone(),
        }
    }
}

/// Held by the callbacks so the window does not keep itself alive.
struct WeakScreen<A> {
    window: slint::Weak<AppWindow>,
    controller: std::rc::Weak<RefCell<Controller<A>>>,
    clock: Arc<dyn Clock>,
}

type Strong<A> = (Rc<RefCell<Controller<A>>>, Arc<dyn Clock>, AppWindow);

impl<A> WeakScreen<A> {
    fn upgrade(&self) -> Option<Strong<A>> {
        Some((
            self.controller.upgrade()?,
            self.clock.clone(),
            self.window.upgrade()?,
        ))
    }
}

/// Copies a view model into the `Api` global.
pub fn apply(view: &ViewModel, api: &Api<'_>) {
    api.set_resource_name(view.resource_name.as_str().into());
    api.set_is_device(view.is_device);
    api.set_capacity(i32::try_from(view.capacity).unwrap_or(i32::MAX));
    api.set_clock(view.clock.as_str().into());
    api.set_weekday(small(view.weekday));
    api.set_day(small(view.day));
    api.set_month(small(view.month));
    api.set_has_schedule(view.has_schedule);
    api.set_status(match view.status {
        controller::Status::Available => ui::RoomStatus::Available,
        controller::Status::Booked => ui::RoomStatus::Booked,
        controller::Status::CheckInOpen => ui::RoomStatus::CheckInOpen,
        controller::Status::Released => ui::RoomStatus::Released,
    });
    api.set_has_current(view.current.is_some());
    api.set_current(meeting(view.current.as_ref()));
    api.set_minutes_left(clamp(view.minutes_left));
    api.set_has_next(view.next.is_some());
    api.set_next(meeting(view.next.as_ref()));
    let slots: Vec<ui::Slot> = view.timeline.iter().map(slot).collect();
    api.set_timeline(ModelRc::new(VecModel::from(slots)));
    api.set_timeline_focus(i32::try_from(view.timeline_focus).unwrap_or(0));
    api.set_offline(view.offline);
    api.set_sync_age_minutes(clamp(view.sync_age_minutes));
    api.set_check_in_enabled(view.check_in.is_some());
    api.set_check_in_title(
        view.check_in
            .as_ref()
            .map(|(_, title)| SharedString::from(title.as_str()))
            .unwrap_or_default(),
    );
    let choices: Vec<i32> = view.book_choices.iter().copied().map(i32::from).collect();
    api.set_book_choices(ModelRc::new(VecModel::from(choices)));
    api.set_notice(notice(view.notice));
    api.set_notice_detail(view.notice_detail.as_str().into());
}

fn small(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(0)
}

fn clamp(n: i64) -> i32 {
    i32::try_from(n.clamp(0, i64::from(i32::MAX))).unwrap_or(i32::MAX)
}

fn meeting(line: Option<&MeetingLine>) -> ui::MeetingView {
    let line = line.cloned().unwrap_or_default();
    ui::MeetingView {
        title: line.title.into(),
        organizer: line.organizer.into(),
        from: line.from.into(),
        to: line.to.into(),
    }
}

fn slot(slot: &controller::Slot) -> ui::Slot {
    ui::Slot {
        kind: match slot.kind {
            controller::SlotKind::Booked => ui::SlotKind::Booked,
            controller::SlotKind::Available => ui::SlotKind::Available,
            controller::SlotKind::NoShow => ui::SlotKind::NoShow,
            controller::SlotKind::Cancelled => ui::SlotKind::Cancelled,
            controller::SlotKind::Completed => ui::SlotKind::Completed,
        },
        from: slot.from.as_str().into(),
        to: slot.to.as_str().into(),
        title: slot.title.as_str().into(),
        organizer: slot.organizer.as_str().into(),
        current: slot.current,
    }
}

fn notice(notice: controller::Notice) -> ui::Notice {
    use controller::Notice as N;
    match notice {
        N::None => ui::Notice::None,
        N::CheckInSending => ui::Notice::CheckInSending,
        N::CheckInQueued => ui::Notice::CheckInQueued,
        N::CheckInAccepted => ui::Notice::CheckInAccepted,
        N::CheckInRefused => ui::Notice::CheckInRefused,
        N::BookingSending => ui::Notice::BookingSending,
        N::BookingQueued => ui::Notice::BookingQueued,
        N::BookingConfirmed => ui::Notice::BookingConfirmed,
        N::BookingRefused => ui::Notice::BookingRefused,
        N::Failed => ui::Notice::Failed,
    }
}
